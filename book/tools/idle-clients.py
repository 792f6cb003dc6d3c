#!/usr/bin/env python3
"""Hold N idle connections to a server: each sends half a request head and
then nothing, so whoever serves it waits for the rest.

    python3 book/tools/idle-clients.py 100            # 100 clients on port 8080
    python3 book/tools/idle-clients.py 4 --gap 0.1    # one every 0.1 s

Ctrl-C (or --hold) ends it; closing the sockets frees the server.
"""
import argparse
import socket
import time

HALF_HEAD = b"GET /health HTTP/1.1\r\nHost: localhost\r\n"  # no empty line: unfinished

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("count", type=int, help="how many idle connections")
parser.add_argument("--port", type=int, default=8080)
parser.add_argument("--gap", type=float, default=0.0, help="seconds between connections")
parser.add_argument("--hold", type=float, default=3600, help="seconds to hold them")
args = parser.parse_args()

clients = []
for _ in range(args.count):
    client = socket.create_connection(("127.0.0.1", args.port))
    client.sendall(HALF_HEAD)
    clients.append(client)
    time.sleep(args.gap)
print(f"holding {len(clients)} idle connections; Ctrl-C to close them", flush=True)
try:
    time.sleep(args.hold)
except KeyboardInterrupt:
    pass
