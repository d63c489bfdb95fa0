#!/usr/bin/env bash
# Resident memory per idle connection, per backend.
#
# For each backend: start a fresh server (http, one loop/thread where that
# applies, pinned to CPU 0), read its VmRSS, open N connections that each send
# one request and read the answer (so every connection has been fully set up
# and served once), then leave them idle, check that the server counts all N
# open, read VmRSS again and print the growth per connection.
#
# RSS is user-space memory only: kernel socket buffers and task structures are
# not in it. The script raises `ulimit -n` itself (to N + 100) and gives
# each backend 120 s.
#
# Usage: scripts/idle-memory.sh [-n CONNS] [-b "backend[:flags] ..."]
#   default: -n 10000 -b "epoll io-uring io-uring:--no-buf-ring tokio thread-per-conn"
set -euo pipefail
cd "$(dirname "$0")/.."
me=idle-memory
# shellcheck source=scripts/server-lib.sh
source scripts/server-lib.sh

conns=10000
variants="epoll io-uring io-uring:--no-buf-ring tokio thread-per-conn"
while getopts "n:b:" opt; do
    case $opt in
        n) conns=$OPTARG ;;
        b) variants=$OPTARG ;;
        *) sed -n '2,16p' "$0" >&2; exit 2 ;;
    esac
done
# Server and client are separate processes: each holds N descriptors.
need=$(( conns + 100 ))
if [[ $(ulimit -Hn) != unlimited && $(ulimit -Hn) -lt $need ]]; then
    echo "idle-memory: $conns connections need $need descriptors; the hard limit is $(ulimit -Hn) (raise it, or pass a smaller -n)" >&2
    exit 2
fi
ulimit -n "$need"
command -v python3 >/dev/null || { echo "idle-memory: python3 is needed for the client" >&2; exit 2; }

cargo build --release --quiet --bin ringside-server
server=target/release/ringside-server
known=$($server --list-backends | cut -f1)
tmp=$(mktemp -d)
client=
cleanup() {
    [[ -n $client ]] && kill "$client" 2>/dev/null
    stop_server
    rm -rf "$tmp"
}
trap cleanup EXIT

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
field() { sed -n "s/.*\"$1\":\\([^,}]*\\).*/\\1/p" <<<"$2"; }

# The client: open N connections, one GET each, keep them open until stdin closes.
cat >"$tmp/client.py" <<'PY'
import socket, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
req = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
socks = []
for i in range(n):
    s = socket.create_connection((host, port), timeout=30)
    s.sendall(req)
    got = b""
    while not got.endswith(b"Hello, World!"):
        chunk = s.recv(4096)
        if not chunk:
            sys.exit(f"connection {i} closed early")
        got += chunk
    socks.append(s)
print("ready", flush=True)
sys.stdin.read()
PY

printf '%-28s %8s %12s %12s %14s\n' variant conns "rss before" "rss after" "KiB/conn"
for variant in $variants; do
    backend=${variant%%:*}
    flags=()
    [[ $variant == *:* ]] && read -r -a flags <<<"${variant#*:}"
    if ! grep -qx "$backend" <<<"$known"; then
        echo "idle-memory: no backend $backend in this build (have: $(echo $known))" >&2
        continue
    fi
    threads=(--threads 1)
    [[ $backend == thread-per-conn ]] && threads=()
    start_server "$tmp/err" taskset -c 0 $server --backend "$backend" --protocol http --listen 127.0.0.1:0 \
        --stats-listen 127.0.0.1:0 --cores 0 "${threads[@]}" "${flags[@]}"
    addr=$server_addr stats=$server_stats
    before=$(rss_kib "$server_pid")
    coproc CLIENT { exec timeout 120 taskset -c 1 python3 "$tmp/client.py" "${addr%:*}" "${addr##*:}" "$conns"; }
    client=$CLIENT_PID
    read -r ready <&"${CLIENT[0]}" || { echo "idle-memory: the client failed against $variant" >&2; exit 1; }
    # Every connection was answered, so the server has accepted and counted
    # it (the stats port's own connection is not one of them): no waiting.
    open=$(field conns_open "$(curl -sS "http://$stats/")")
    [[ $open == "$conns" ]] || { echo "idle-memory: $variant counts $open connections open, not $conns" >&2; exit 1; }
    after=$(rss_kib "$server_pid")
    awk -v v="$variant" -v n="$conns" -v b="$before" -v a="$after" \
        'BEGIN { printf "%-28s %8d %9d KiB %9d KiB %14.2f\n", v, n, b, a, (a - b) / n }'
    exec {CLIENT[1]}>&-
    kill "$client" 2>/dev/null || true
    wait "$client" 2>/dev/null || true
    client=
    stop_server
done
