#!/usr/bin/env bash
# Drive every backend's http mode with wrk (Debian's), server pinned to one
# CPU and wrk to another, and print req/s, wrk's errors and non-2xx, and the
# server's own CPU time and context switches per request (from its counters,
# read just before and just after the run). Backends are interleaved within
# each repetition; a fresh server per run.
#
# The sweep (`ringside-loadgen sweep`, scripts/bench.sh) measures the same
# with statistics; this script exists to see the backends through a client
# that is not ringside's and that people know, wrk, so that no figure rests
# on ringside's load generator alone (README: "What each design costs").
#
# wrk counts a request not answered within its timeout (-T, default 2s, as
# wrk's) as a "timeout" error; the p99 and max columns show the tail either
# way.
#
# Usage: scripts/wrk-backends.sh [-c CONNS] [-d SECS] [-r REPS] [-T TIMEOUT] [-s CPU] [-w CPU] [-- extra server flags]
# Needs: wrk, curl, taskset.
set -euo pipefail
cd "$(dirname "$0")/.."
me=wrk-backends
# shellcheck source=scripts/server-lib.sh
source scripts/server-lib.sh

conns=50 secs=3 reps=1 server_cpu=0 wrk_cpu=1 timeout=2s
while getopts "c:d:r:T:s:w:" opt; do
    case $opt in
        c) conns=$OPTARG ;; d) secs=$OPTARG ;; r) reps=$OPTARG ;; T) timeout=$OPTARG ;;
        s) server_cpu=$OPTARG ;; w) wrk_cpu=$OPTARG ;;
        *) sed -n '2,15p' "$0" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
extra=("$@")
for tool in wrk curl taskset; do
    command -v $tool >/dev/null || { echo "wrk-backends: $tool is needed (apt-get install wrk curl util-linux)" >&2; exit 2; }
done

cargo build --release --quiet --bin ringside-server
server=target/release/ringside-server
tmp=$(mktemp -d)
cleanup() {
    stop_server
    rm -rf "$tmp"
}
trap cleanup EXIT

field() { sed -n "s/.*\"$1\":\\([^,}]*\\).*/\\1/p" <<<"$2"; }

backends=$($server --list-backends | cut -f1)
printf '%-4s %-16s %6s %10s %7s %7s %10s %10s %10s %9s %9s\n' \
    rep backend conns "req/s" errors non2xx p99 max cpu_us/req vcs/req ics/req
for rep in $(seq "$reps"); do
    for backend in $backends; do
        flags=(--backend "$backend" --protocol http --listen 127.0.0.1:0 --cores "$server_cpu")
        # The pool must hold every connection or the extra ones starve (by design).
        [[ $backend == thread-pool ]] && flags+=(--threads "$(( conns > 64 ? conns : 64 ))")
        start_server "$tmp/err" taskset -c "$server_cpu" $server "${flags[@]}" "${extra[@]}"
        addr=$server_addr
        before=$(curl -sS "http://$addr/stats")
        taskset -c "$wrk_cpu" wrk -t1 -c"$conns" -d"${secs}s" --timeout "$timeout" --latency "http://$addr/" >"$tmp/wrk"
        after=$(curl -sS "http://$addr/stats")
        stop_server
        rps=$(sed -n 's/^Requests\/sec: *//p' "$tmp/wrk")
        p99=$(awk '$1 == "99%" { print $2 }' "$tmp/wrk")
        max=$(awk '$1 == "Latency" && NF >= 4 { print $4; exit }' "$tmp/wrk")
        errors=$(sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1+\2+\3+\4/p' "$tmp/wrk")
        errors=$(( ${errors:-0} ))
        non2xx=$(sed -n 's/.*Non-2xx or 3xx responses: *//p' "$tmp/wrk"); non2xx=${non2xx:-0}
        d() { echo $(( $(field "$1" "$after") - $(field "$1" "$before") )); }
        reqs=$(d requests)
        cpu=$(( $(d cpu_user_us) + $(d cpu_sys_us) ))
        awk -v rep="$rep" -v b="$backend" -v c="$conns" -v rps="$rps" -v e="$errors" -v n="$non2xx" \
            -v p99="$p99" -v max="$max" \
            -v r="$reqs" -v cpu="$cpu" -v vcs="$(d ctx_voluntary)" -v ics="$(d ctx_involuntary)" \
            'BEGIN { printf "%-4s %-16s %6s %10.0f %7s %7s %10s %10s %10.2f %9.3f %9.3f\n", rep, b, c, rps, e, n, p99, max, cpu/r, vcs/r, ics/r }'
    done
done
