#!/usr/bin/env bash
# Client CPU per request: ringside-loadgen (io_uring and epoll drivers) against
# Debian's wrk, all driving the same http server, closed loop, one thread
# pinned to the client CPU, the server pinned to the server CPU. Clients are
# interleaved within each repetition; each client's whole-process CPU time
# (user + system, getrusage of the child) is divided by the requests it
# completed. Prints every run, then per connection count each client's
# median with its interval and its change against wrk, with a p-value
# (`ringside-results summarize --baseline wrk` on a label,value table of
# the runs: wrk writes no results rows, so compare cannot take these).
#
# Usage: scripts/loadgen-vs-wrk.sh [-r REPS] [-d SECS] [-b BACKEND] [-c "50 500"] [-s CPU] [-w CPU]
set -euo pipefail
cd "$(dirname "$0")/.."
me=loadgen-vs-wrk
# shellcheck source=scripts/server-lib.sh
source scripts/server-lib.sh

reps=5 secs=5 backend=epoll conns_list="50 500" server_cpu=0 client_cpu=1
while getopts "r:d:b:c:s:w:" opt; do
    case $opt in
        r) reps=$OPTARG ;; d) secs=$OPTARG ;; b) backend=$OPTARG ;; c) conns_list=$OPTARG ;;
        s) server_cpu=$OPTARG ;; w) client_cpu=$OPTARG ;;
        *) sed -n '2,12p' "$0" >&2; exit 2 ;;
    esac
done
for tool in wrk python3 taskset; do
    command -v $tool >/dev/null || { echo "loadgen-vs-wrk: $tool is needed" >&2; exit 2; }
done
cargo build --release --quiet --bin ringside-server --bin ringside-loadgen --bin ringside-results
server=target/release/ringside-server loadgen=target/release/ringside-loadgen results=target/release/ringside-results
tmp=$(mktemp -d)
cleanup() { stop_server; rm -rf "$tmp"; }
trap cleanup EXIT

# Run a command; print "<cpu seconds> <its stdout on one line>".
measure() {
    python3 - "$@" <<'PY'
import resource, subprocess, sys
p = subprocess.run(sys.argv[1:], capture_output=True, text=True)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
if p.returncode not in (0,):
    sys.stderr.write(p.stderr)
print(u.ru_utime + u.ru_stime, " ".join(p.stdout.split()))
PY
}

start_server "$tmp/err" taskset -c "$server_cpu" $server --backend "$backend" --protocol http --listen 127.0.0.1:0 \
    --cores "$server_cpu"
addr=$server_addr

printf '%-4s %-6s %-18s %12s %12s %12s\n' rep conns client requests req/s cpu_us/req
# A label,value table per connection count: client, CPU us per request.
for c in $conns_list; do echo label,value >"$tmp/c$c.csv"; done
for rep in $(seq "$reps"); do
    for c in $conns_list; do
        for client in wrk loadgen-io-uring loadgen-epoll; do
            case $client in
                wrk)
                    line=$(measure taskset -c "$client_cpu" wrk -t1 -c"$c" -d"${secs}s" --timeout 10s "http://$addr/")
                    reqs=$(sed -n 's/.* \([0-9]*\) requests in .*/\1/p' <<<"$line") ;;
                loadgen-*)
                    io=${client#loadgen-}
                    line=$(measure $loadgen run -a "$addr" -c "$c" -t 1 --cores "$client_cpu" -d "${secs}s" \
                        --warmup 0s --timeout 10s --no-calibrate --io "$io" -q --no-syscalls)
                    reqs=$(sed -n 's/.*Requests \([0-9,]*\) in.*/\1/p' <<<"$line" | tr -d ,) ;;
            esac
            cpu=${line%% *}
            per_request=$(awk -v r="$reqs" -v cpu="$cpu" 'BEGIN { printf "%.4f", cpu * 1e6 / r }')
            awk -v rep="$rep" -v c="$c" -v cl="$client" -v r="$reqs" -v s="$secs" -v u="$per_request" \
                'BEGIN { printf "%-4s %-6s %-18s %12d %12.0f %12.3f\n", rep, c, cl, r, r / s, u }'
            echo "$client,$per_request" >>"$tmp/c$c.csv"
        done
    done
done
echo
echo "client CPU us/request against wrk's (lower is better; ringside-results summarize):"
for c in $conns_list; do
    echo "c=$c"
    $results summarize --baseline wrk "$tmp/c$c.csv" | sed 's/^/  /'
done
