#!/usr/bin/env bash
# Start every ringside backend in turn (pinned to CPU 0), query it with curl,
# and print one table row per backend from its own counters.
#
# Usage: scripts/try-servers.sh [--no-build]
# Needs: cargo, curl. Every server is stopped on exit, even on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
me=try-servers
# shellcheck source=scripts/server-lib.sh
source scripts/server-lib.sh

command -v curl >/dev/null || { echo "try-servers: curl is needed (apt-get install curl)" >&2; exit 2; }
if [[ "${1:-}" != "--no-build" ]]; then
    cargo build --release --quiet --bin ringside-server
fi
server=target/release/ringside-server
[[ -x $server ]] || { echo "try-servers: $server is missing; run without --no-build" >&2; exit 2; }

tmp=$(mktemp -d)
cleanup() {
    stop_server
    rm -rf "$tmp"
}
trap cleanup EXIT

json_field() { sed -n "s/.*\"$1\":\\([^,}]*\\).*/\\1/p" | tr -d '"'; }

backends=$($server --list-backends | cut -f1)
printf '%-16s %-15s %8s %8s %8s %10s\n' backend "GET /" requests threads ctx_vol cpu_us
for backend in $backends; do
    start_server "$tmp/err" $server --backend "$backend" --protocol http --listen 127.0.0.1:0 --cores 0
    addr=$server_addr
    body=$(curl -sS --max-time 5 "http://$addr/")
    for _ in 1 2 3 4 5 6 7 8 9; do curl -sS --max-time 5 -o /dev/null "http://$addr/"; done
    stats=$(curl -sS --max-time 5 "http://$addr/stats")
    stop_server
    ((server_status == 0)) || { echo "$me: $backend exited with status $server_status:" >&2; cat "$tmp/err" >&2; exit 1; }
    cpu=$(( $(json_field cpu_user_us <<<"$stats") + $(json_field cpu_sys_us <<<"$stats") ))
    printf '%-16s %-15s %8s %8s %8s %10s\n' "$backend" "$body" \
        "$(json_field requests <<<"$stats")" "$(json_field threads <<<"$stats")" \
        "$(json_field ctx_voluntary <<<"$stats")" "$cpu"
done
echo
echo "Each server: 10 requests with curl, counters from its GET /stats."
echo "See README.md for what the columns show."
