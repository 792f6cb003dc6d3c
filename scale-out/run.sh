#!/usr/bin/env bash
# scale-out/run.sh: three NetServe instances behind HAProxy (active health
# checks) and nginx (passive), a rolling restart under load, and what goes
# wrong without the drain. Everything on 127.0.0.1. See scale-out/README.md.
#
#   scale-out/run.sh            the full run (about 2 minutes); writes
#                               book/src/measurements/scale-out.md
#   scale-out/run.sh --short    CI: one rolling restart through HAProxy under
#                               a few seconds of load; exit 1 if any request
#                               is lost
#
# Option: --out FILE (the Markdown table). The work directory, with every
# log, is kept after a failure.
#
# Every process this script starts is recorded by its pid and stopped on
# exit, whatever happened (trap EXIT). Every wait is bounded.
# The whole script is one { ... } block, so bash reads all of it before it
# runs any: editing the file during a run cannot change the run.
{
set -euo pipefail
# haproxy and nginx live in /usr/sbin, which a non-root PATH may lack.
PATH="$PATH:/usr/sbin"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHORT=0
OUT="$ROOT/book/src/measurements/scale-out.md"

while (($#)); do
    case $1 in
        --short) SHORT=1 ;;
        --out) OUT=$2; shift ;;
        -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done

# --- Settings: the balancers' checks and the server's drain ---------------
CHECK_INTER_MS=500 # HAProxy asks every server for /health this often
CHECK_FALL=2       # ... and takes it out after this many failures in a row
CHECK_RISE=2       # ... and back in after this many successes
MAX_FAILS=1        # nginx: failed attempts that take a server out ...
FAIL_TIMEOUT=2s    # ... for this long
# The drain delay must outlast HAProxy's detection, (fall + 1) x inter at
# worst (a check may have just passed when the signal comes): 1.5 s here,
# doubled for a loaded machine, where checks wait behind other work.
DRAIN_DELAY=3
RATE=200 # requests/s of the load during restarts
LOAD_PATH="/run-cache-sim?policy=lru&trace=loop"

for tool in haproxy nginx; do
    if ! command -v "$tool" >/dev/null; then
        echo "run.sh: $tool is not installed (apt-get install -y haproxy nginx-light)" >&2
        exit 2
    fi
done

# --- Build -----------------------------------------------------------------
(cd "$ROOT" && cargo build --release --quiet --bin netserve --bin cache-audit --bin scale-out-load --bin ready-port)
NETSERVE="$ROOT/target/release/netserve"
LOAD="$ROOT/target/release/scale-out-load"
READY_PORT_BIN="$ROOT/target/release/ready-port"

# One event loop (or worker) per instance: three instances on two cores are
# already more than one per core.
THREADS=1
SERVER_ARGS=(--quiet --drain-delay "$DRAIN_DELAY")

# --- Processes: started here, stopped by pid on exit -----------------------
WORK=$(mktemp -d /tmp/netserve-scale-out.XXXXXX)
PIDS=()
cleanup() {
    local status=$? pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait_exit "$pid" 5 || kill -KILL "$pid" 2>/dev/null || true
    done
    if ((status != 0)); then
        echo "run.sh: failed; logs kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

log() { printf '%s\n' "$*" >&2; }
die() { log "run.sh: $*"; exit 1; }
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# wait_exit PID SECONDS: waits for a child to exit, reaps it and forgets its
# pid; false if it is still running after SECONDS. Sets EXIT_STATUS.
wait_exit() {
    local pid=$1 tries=$(($2 * 20)) kept=() p
    while kill -0 "$pid" 2>/dev/null && ((tries-- > 0)); do sleep 0.05; done
    if kill -0 "$pid" 2>/dev/null; then return 1; fi
    EXIT_STATUS=0
    wait "$pid" 2>/dev/null || EXIT_STATUS=$?
    for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || kept+=("$p"); done
    PIDS=("${kept[@]}")
}

# free_port VAR: sets VAR to a port nobody listens on now (the kernel picks
# it: a throwaway netserve on port 0, since bash's /dev/tcp cannot listen).
free_port() {
    local out="$WORK/port.$RANDOM" pid
    "$NETSERVE" 0 1 --quiet >"$out" 2>/dev/null &
    pid=$!
    PIDS+=("$pid")
    wait_readiness "$out" "$pid"
    printf -v "$1" '%s' "$READY_PORT"
    kill -TERM "$pid"
    wait_exit "$pid" 5 || die "a netserve on port $READY_PORT did not exit"
}

# wait_readiness FILE PID: waits (10 s at most) for the server's first line,
# `listening on http://ADDR:PORT`, and sets READY_PORT to PORT (read by
# ready-port: harness's parser, the one place the line's format is known).
wait_readiness() {
    local file=$1 pid=$2 tries=200
    while ((tries-- > 0)); do
        # The server writes the line, newline included, in one flush.
        if [[ -s $file && $(wc -l <"$file") -ge 1 ]]; then
            READY_PORT=$("$READY_PORT_BIN" <"$file") || die "server $pid: its first line is not a readiness line"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || die "server $pid exited before it was ready"
        sleep 0.05
    done
    die "server $pid printed no readiness line within 10 s"
}

# http_get PORT PATH: one HTTP/1.0 request to 127.0.0.1:PORT with bash's
# /dev/tcp (no curl needed); prints the response, headers included.
http_get() {
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
        printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" "$1" >&3
        cat <&3' "$1" "$2" 2>/dev/null || true
}

# --- The three instances ---------------------------------------------------
declare -a INSTANCE_PID INSTANCE_PORT
# start_instance I PORT: starts instance I (1-3) on PORT and waits until it
# listens.
start_instance() {
    local i=$1 port=$2 out="$WORK/netserve-$1.$RANDOM.out" pid
    "$NETSERVE" "$port" "$THREADS" "${SERVER_ARGS[@]}" >"$out" 2>>"$WORK/netserve-$i.err" &
    pid=$!
    PIDS+=("$pid")
    INSTANCE_PID[i]=$pid
    wait_readiness "$out" "$pid"
    INSTANCE_PORT[i]=$READY_PORT
}

# stop_instance I SIGNAL: sends SIGNAL and waits for the exit (the drain delay
# and the drain included, 30 s at most).
stop_instance() {
    local pid=${INSTANCE_PID[$1]}
    kill -"$2" "$pid"
    wait_exit "$pid" 30 || die "instance $1 (pid $pid) still running 30 s after SIG$2"
}

# --- The balancers ---------------------------------------------------------
fill() { # fill TEMPLATE OUTPUT: replaces every @NAME@ with $NAME
    local text name
    text=$(<"$1")
    for name in WORK HAPROXY_PORT STATS_PORT NGINX_PORT PORT1 PORT2 PORT3 \
        CHECK_INTER_MS CHECK_FALL CHECK_RISE MAX_FAILS FAIL_TIMEOUT; do
        text=${text//@$name@/${!name}}
    done
    printf '%s\n' "# Generated by scale-out/run.sh from ${1##*/}." "$text" >"$2"
}

start_balancers() {
    PORT1=${INSTANCE_PORT[1]} PORT2=${INSTANCE_PORT[2]} PORT3=${INSTANCE_PORT[3]}
    free_port HAPROXY_PORT
    free_port STATS_PORT
    free_port NGINX_PORT
    fill "$ROOT/scale-out/haproxy.cfg.in" "$WORK/haproxy.cfg"
    fill "$ROOT/scale-out/nginx.conf.in" "$WORK/nginx.conf"
    mkdir -p "$WORK/nginx-tmp"
    haproxy -c -q -f "$WORK/haproxy.cfg" || die "haproxy rejects $WORK/haproxy.cfg"
    nginx -t -q -p "$WORK" -c "$WORK/nginx.conf" || die "nginx rejects $WORK/nginx.conf"
    haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
    HAPROXY_PID=$!
    PIDS+=("$HAPROXY_PID")
    nginx -p "$WORK" -c "$WORK/nginx.conf" >"$WORK/nginx.log" 2>&1 &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    local i
    for i in 1 2 3; do routed "$i" haproxy && routed "$i" nginx; done
}

# haproxy_stat SERVER FIELD: one field of HAProxy's CSV stats for a server of
# backend `netserve` (status, econ, wretr, wredis, ...).
haproxy_stat() {
    http_get "$STATS_PORT" "/stats;csv" | tr -d '\r' | awk -F, -v server="$1" -v field="$2" '
        /^# / { sub(/^# /, ""); for (i = 1; i <= NF; i++) column[$i] = i; next }
        $1 == "netserve" && $2 == server { print $column[field] }'
}

# retried BALANCER: how many attempts the balancer has had to make again so
# far: HAProxy's retries and redispatches (its counters), nginx's failed
# upstream attempts (each is an [error] line in its log, then tried on the
# next server); "-" without a balancer.
retried() {
    case $1 in
        haproxy) echo $(($(haproxy_stat BACKEND wretr) + $(haproxy_stat BACKEND wredis))) ;;
        nginx) grep -c '\[error\].*upstream' "$WORK/nginx-error.log" || true ;;
        *) echo - ;;
    esac
}

# delta BEFORE AFTER: AFTER - BEFORE, or "-".
delta() { if [[ $1 == - ]]; then echo -; else echo $(($2 - $1)); fi; }

# haproxy_wait SERVER STATE SECONDS: waits until HAProxy shows SERVER in
# STATE (UP or DOWN exactly, not "UP 1/2"); prints how long it took, in ms.
haproxy_wait() {
    local start tries=$(($3 * 20))
    start=$(now_ms)
    while [[ $(haproxy_stat "$1" status) != "$2" ]]; do
        ((tries-- > 0)) || die "HAProxy did not mark $1 $2 within $3 s"
        sleep 0.05
    done
    echo $(($(now_ms) - start))
}

# nginx_wait I SECONDS: sends requests through nginx until one is answered by
# instance I (nginx's X-Upstream header names it): passive checks only learn
# that a server is back from a real request.
nginx_wait() {
    local tries=$(($2 * 20)) response
    while ((tries-- > 0)); do
        response=$(http_get "$NGINX_PORT" /health)
        if [[ $response == "HTTP/1."?" 200"* && $response == *"X-Upstream: 127.0.0.1:${INSTANCE_PORT[$1]}"* ]]; then
            return 0
        fi
        sleep 0.05
    done
    die "nginx sent no request to instance $1 within $2 s"
}

# routed I BALANCER: waits until BALANCER (haproxy, nginx or none) sends
# instance I traffic.
routed() {
    case $2 in
        haproxy) haproxy_wait "s$1" UP 10 >/dev/null ;;
        nginx) nginx_wait "$1" 10 ;;
    esac
}

# --- Load ------------------------------------------------------------------
# start_load PORT: starts the fixed-rate load generator against PORT; it runs
# until stop_load (or 60 s).
start_load() {
    LOAD_OUT="$WORK/load.$RANDOM.out"
    "$LOAD" "http://127.0.0.1:$1$LOAD_PATH" --rate "$RATE" --max-duration 60 >"$LOAD_OUT" &
    LOAD_PID=$!
    PIDS+=("$LOAD_PID")
    sleep 1 # one second of undisturbed load before anything happens
}

# stop_load: lets one more second of load pass, stops it, and sets RESULT
# to its result line.
stop_load() {
    sleep 1
    kill -TERM "$LOAD_PID"
    wait_exit "$LOAD_PID" 15 || die "the load generator did not stop"
    ((EXIT_STATUS == 0)) || die "the load generator failed ($EXIT_STATUS)"
    RESULT=$(<"$LOAD_OUT")
    log "    $RESULT"
}

# field KEY: the value of KEY in RESULT, a line of KEY=VALUE pairs.
field() { tr ' ' '\n' <<<"$RESULT" | sed -n "s/^$1=//p"; }

# --- The runs --------------------------------------------------------------
# rolling_restart BALANCER SIGNAL: each instance in turn gets SIGNAL, exits,
# is started again on its port, and is waited for until BALANCER (haproxy,
# nginx or none) sends it traffic again. Sets DOWN_MS to how long HAProxy
# took to mark each instance down after the signal ("-" when it did not
# before the instance was back).
rolling_restart() {
    local balancer=$1 signal=$2 i port
    DOWN_MS=""
    for i in 1 2 3; do
        port=${INSTANCE_PORT[$i]}
        local signalled watch="" down="-"
        signalled=$(now_ms)
        if [[ $balancer == haproxy ]]; then
            # Watch for DOWN while the instance drains (bounded by the loop).
            (haproxy_wait "s$i" DOWN 30 2>/dev/null >"$WORK/down.$i" || true) &
            watch=$!
            PIDS+=("$watch")
        fi
        stop_instance "$i" "$signal"
        start_instance "$i" "$port"
        routed "$i" "$balancer"
        if [[ -n $watch ]]; then
            kill -TERM "$watch" 2>/dev/null || true
            wait_exit "$watch" 5 || true
            [[ -s $WORK/down.$i ]] && down=$(<"$WORK/down.$i")
        fi
        DOWN_MS+="${DOWN_MS:+, }$down"
        log "    instance $i: SIG$signal, back in $(($(now_ms) - signalled)) ms, marked down after $down ms"
    done
}

# run_restart NAME BALANCER SIGNAL PORT: a rolling restart under load sent to
# PORT (SIGNAL none: the same load for 8 s with no restart, so that what a
# restart row loses can be told from what the load alone does); appends a row
# to ROWS and returns false if any request was lost.
ROWS=()
run_restart() {
    local name=$1 balancer=$2 signal=$3 port=$4 before
    log "==> $name"
    before=$(retried "$balancer")
    start_load "$port"
    DOWN_MS="n/a"
    if [[ $signal == none ]]; then sleep 6; else rolling_restart "$balancer" "$signal"; fi
    stop_load
    [[ $balancer == haproxy ]] || DOWN_MS="n/a"
    ROWS+=("| $name | $(field sent) | **$(field lost)** | $(field codes) | $(field refused) | $(field reset) | $(field timeout) | $(field max_ms) | $(delta "$before" "$(retried "$balancer")") | $DOWN_MS |")
    (($(field lost) == 0))
}

# throughput NAME PORT: the benchmark's closed loop (64 connections, one
# request per connection, GET /health, 5 s after 1 s of warm-up) against
# PORT; appends a row to THROUGHPUT, with the ratio to the first row.
THROUGHPUT=()
DIRECT_RPS=""
throughput() {
    log "==> throughput: $1"
    RESULT=$("$LOAD" "http://127.0.0.1:$2/health" --connections 64 --max-duration 5) ||
        die "the load generator failed"
    DIRECT_RPS=${DIRECT_RPS:-$(field rps)}
    local ratio
    ratio=$(awk -v a="$(field rps)" -v b="$DIRECT_RPS" 'BEGIN { printf "%.2f×", a / b }')
    THROUGHPUT+=("| $1 | $(printf "%'d" "$(field rps)") | $ratio | $(field p99_ms) | $(field lost) |")
    log "    $RESULT"
}

# kill_and_watch NAME BALANCER PORT: the operator's experiment. Under load,
# kill -9 instance 2 and leave it dead for 4 s while the balancer finds out;
# then start it again. Appends a row to DETECTION.
DETECTION=()
kill_and_watch() {
    local name=$1 balancer=$2 port=$3 down="n/a" before
    log "==> $name"
    before=$(retried "$balancer")
    start_load "$port"
    kill -KILL "${INSTANCE_PID[2]}"
    wait_exit "${INSTANCE_PID[2]}" 5 || die "instance 2 survived SIGKILL"
    if [[ $balancer == haproxy ]]; then
        down=$(haproxy_wait s2 DOWN 10)
    fi
    sleep 3
    stop_load
    DETECTION+=("| $name | $(field sent) | **$(field lost)** | $(field codes) | $(field max_ms) | $down | $(delta "$before" "$(retried "$balancer")") |")
    start_instance 2 "${INSTANCE_PORT[2]}"
    routed 2 "$balancer"
}

# --- Main ------------------------------------------------------------------
# The full run starts the instances without a drain delay: its first rolling
# restart shows what the delay is for, and restarts them with it.
((SHORT)) || SERVER_ARGS=(--quiet --drain-delay 0)
for i in 1 2 3; do start_instance "$i" 0; done
SERVER_ARGS=(--quiet --drain-delay "$DRAIN_DELAY")
start_balancers
log "instances on ports ${INSTANCE_PORT[*]}; HAProxy on $HAPROXY_PORT (stats $STATS_PORT), nginx on $NGINX_PORT"

if ((SHORT)); then
    if run_restart "rolling restart through HAProxy (SIGTERM)" haproxy TERM "$HAPROXY_PORT"; then
        log "ok: no request lost"
        exit 0
    fi
    die "requests were lost during the rolling restart through HAProxy"
fi

run_restart "HAProxy, no restart (control)" haproxy none "$HAPROXY_PORT" || true
run_restart "HAProxy, SIGTERM, no drain delay" haproxy TERM "$HAPROXY_PORT" || true
run_restart "HAProxy, SIGTERM + drain delay" haproxy TERM "$HAPROXY_PORT" || true
run_restart "nginx, SIGTERM + drain delay" nginx TERM "$NGINX_PORT" || true
run_restart "HAProxy, SIGKILL" haproxy KILL "$HAPROXY_PORT" || true
run_restart "nginx, SIGKILL" nginx KILL "$NGINX_PORT" || true
kill_and_watch "HAProxy" haproxy "$HAPROXY_PORT"
kill_and_watch "nginx" nginx "$NGINX_PORT"

# Throughput last: the closed loop leaves tens of thousands of connections in
# TIME_WAIT on the servers' ports, and a new connection whose port pair
# matches one of them can stall for a second or more before it connects.
throughput "one instance, direct" "${INSTANCE_PORT[1]}"
throughput "HAProxy → 3 instances" "$HAPROXY_PORT"
throughput "nginx → 3 instances" "$NGINX_PORT"

# The third contrast: no balancer, three instances sharing one port with
# SO_REUSEPORT. The balancers are stopped first: their checks would count.
for pid in "$HAPROXY_PID" "$NGINX_PID"; do
    kill -TERM "$pid"
    wait_exit "$pid" 10 || die "balancer $pid did not stop"
done
for i in 1 2 3; do stop_instance "$i" TERM; done
free_port SHARED_PORT
for i in 1 2 3; do start_instance "$i" "$SHARED_PORT"; done
run_restart "SO_REUSEPORT, no balancer, SIGTERM + drain delay" none TERM "$SHARED_PORT" || true
run_restart "SO_REUSEPORT, no balancer, SIGKILL" none KILL "$SHARED_PORT" || true
throughput "3 instances, one port (SO_REUSEPORT)" "$SHARED_PORT"

# --- The Markdown table ----------------------------------------------------
commit=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
dirty=""
git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || dirty=" (with uncommitted changes)"
{
    echo "<!-- Written by scale-out/run.sh: run it again rather than editing. -->"
    echo "<!-- ANCHOR: about -->"
    echo "*Measured by \`scale-out/run.sh\` at commit $commit$dirty, $(date -u '+%Y-%m-%d %H:%M UTC'), on $(nproc) cores;"
    echo "$(haproxy -v | head -n 1 | cut -d' ' -f1-3), $(nginx -v 2>&1 | cut -d' ' -f3).*"
    echo "<!-- ANCHOR_END: about -->"
    echo
    echo "<!-- ANCHOR: throughput -->"
    echo "Throughput: the benchmark's closed loop (\`scale-out-load --connections 64\`), 64 connections, one request per connection, GET /health, 5 s. Every instance runs one event loop (THREADS=$THREADS)."
    echo
    echo "| path | req/s | vs direct | p99 ms | errors |"
    echo "|---|---:|---:|---:|---:|"
    printf '%s\n' "${THROUGHPUT[@]}"
    echo "<!-- ANCHOR_END: throughput -->"
    echo
    echo "<!-- ANCHOR: restarts -->"
    echo "Rolling restarts: each instance in turn is signalled, waited for, started again on its port and waited for until the balancer sends it traffic, while \`scale-out-load\` sends GET $LOAD_PATH at $RATE requests/s, one per connection. Lost = every request without a 2xx answer; n/a = not applicable; - = the instance was back before HAProxy marked it down. Attempts retried: HAProxy's retry and redispatch counters added up; nginx's failed upstream attempts (\`[error]\` lines of its log), each retried on the next server."
    echo "Servers run with \`--drain-delay $DRAIN_DELAY\` (the first row: 0); HAProxy checks /health every $CHECK_INTER_MS ms (fall $CHECK_FALL, rise $CHECK_RISE); nginx has max_fails=$MAX_FAILS, fail_timeout=$FAIL_TIMEOUT."
    echo
    echo "| run | requests | lost | non-2xx | refused | reset | timeout | slowest ms | attempts retried by the balancer | HAProxy marked it down after (ms, per instance) |"
    echo "|---|---:|---:|---|---:|---:|---:|---:|---:|---|"
    printf '%s\n' "${ROWS[@]}"
    echo "<!-- ANCHOR_END: restarts -->"
    echo
    echo "<!-- ANCHOR: detection -->"
    echo "kill -9 of one instance under the same load, left dead for 3 s more after HAProxy marked it down (through nginx: 3 s after the kill):"
    echo
    echo "| balancer | requests | lost | non-2xx | slowest ms | marked down after ms | attempts retried by the balancer |"
    echo "|---|---:|---:|---|---:|---:|---:|"
    printf '%s\n' "${DETECTION[@]}"
    echo "<!-- ANCHOR_END: detection -->"
} >"$OUT"
log "wrote $OUT"
exit 0
}
