#!/usr/bin/env python3
"""Send a request head one byte at a time and report when the answer comes.

    python3 book/tools/dribble.py                # a byte every 0.5 s to port 8080
    python3 book/tools/dribble.py --gap 1.0

A server with a per-read timeout waits forever for this client; a server with
a deadline for the whole head answers 408 when the deadline passes.
"""
import argparse
import socket
import time

HEAD = b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + b"x" * 200 + b"\r\n\r\n"

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--port", type=int, default=8080)
parser.add_argument("--gap", type=float, default=0.5, help="seconds between bytes")
args = parser.parse_args()

client = socket.create_connection(("127.0.0.1", args.port))
client.settimeout(args.gap)
start = time.monotonic()
for sent, byte in enumerate(HEAD, start=1):
    try:
        client.sendall(bytes([byte]))
        answer = client.recv(4096)
    except socket.timeout:
        continue  # nothing yet: send the next byte
    except OSError as error:
        print(f"{error} after {time.monotonic() - start:.1f} s")
        break
    first_line = answer.split(b"\r\n")[0].decode()
    print(f"{first_line!r} after {time.monotonic() - start:.1f} s and {sent} bytes sent")
    break
