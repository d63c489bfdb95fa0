#!/usr/bin/env bash
# One server and one load generator in two network namespaces joined by a
# veth pair, so the traffic crosses a link (with its queueing and softirq
# work) instead of loopback. Prints the load generator's result; removes the
# namespaces and stops the server on every exit, Ctrl-C included.
#
# Usage: sudo scripts/netns.sh [OPTIONS] [-- RUN-FLAGS...]
#   --backend NAME        server design (default epoll)
#   --protocol P          echo, rr or http, for both sides (default http)
#   --server-cores LIST   CPUs of the server (default 0)
#   --client-cores LIST   CPUs of the load generator (default 1)
#   --server-args "ARGS"  more ringside-server flags (e.g. "--threads 2")
#   --bin-dir DIR         where ringside-server and ringside-loadgen are
#                         (default target/release; build them with
#                         `cargo build --release`)
#   --name PREFIX         prefix of the namespaces (default rs<PID>, so
#                         parallel runs do not collide)
# RUN-FLAGS go to `ringside-loadgen run` (e.g. -c 50 -d 10s --csv out.csv);
# --target, --stats, --protocol and --cores are set here.
#
# Example: sudo scripts/netns.sh --backend io-uring -- -c 50 -d 5s --csv netns.csv
#
# Needs root and `ip` (iproute2). The server side is 10.78.0.1, the client
# side 10.78.0.2 (a /30 inside the two namespaces only).
set -euo pipefail
me=netns
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/netns-lib.sh
source "$root/scripts/netns-lib.sh"

backend=epoll protocol=http server_cores=0 client_cores=1 server_args="" bin_dir=$root/target/release
name=rs$$
while [[ $# -gt 0 ]]; do
    case $1 in
        --backend) backend=$2; shift 2 ;;
        --protocol) protocol=$2; shift 2 ;;
        --server-cores) server_cores=$2; shift 2 ;;
        --client-cores) client_cores=$2; shift 2 ;;
        --server-args) server_args=$2; shift 2 ;;
        --bin-dir) bin_dir=$2; shift 2 ;;
        --name) name=$2; shift 2 ;;
        --) shift; break ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help; load generator flags go after --)" ;;
    esac
done
server=$bin_dir/ringside-server loadgen=$bin_dir/ringside-loadgen
for b in "$server" "$loadgen"; do
    [[ -x $b ]] || die "$b is missing: build it (cargo build --release) or give --bin-dir"
done
need_netns

tmp=$(mktemp -d)
netns_trap
sns=$name-srv cns=$name-cli
make_ns "$sns"
make_ns "$cns"
link_ns "$sns" 10.78.0.1 "$cns" 10.78.0.2 "${name:0:11}-s" "${name:0:11}-c"

# shellcheck disable=SC2086 # server_args is a list of flags
start_netns_server "$tmp/server.err" ip netns exec "$sns" "$server" --backend "$backend" --protocol "$protocol" \
    --cores "$server_cores" --listen 10.78.0.1:7878 --stats-listen 10.78.0.1:7879 $server_args

status=0
ip netns exec "$cns" "$loadgen" run --target 10.78.0.1:7878 --stats 10.78.0.1:7879 --protocol "$protocol" \
    --cores "$client_cores" "$@" || status=$?
exit "$status"
