#!/usr/bin/env bash
# What counting system calls costs the figures it sits beside. For each
# backend, REPS repetitions of three closed-loop runs against a fresh server
# each, in an order that rotates by repetition so that no side always runs
# first:
#   off     ringside-loadgen run --no-syscalls: nothing counted
#   client  run's default: the load threads' own calls counted
#   server  --syscalls-pid: the server's calls counted too (as every run of
#           `sweep --syscalls every` does)
# With -s, the main job's way instead: REPS pairs of one-repetition sweeps
# (`ringside-loadgen sweep`, its own fresh server per run), in an order that
# alternates by pair:
#   off     sweep --syscalls off: nothing counted
#   once    sweep --syscalls once (the default): a counting run, then the
#           measured run, which counts nothing
# which shows whether the measured runs of a sweep carry any of counting's
# cost (the counting run's rows, phase=count, are left out of every figure
# but the system calls).
# Each side's rows go to OUTDIR/<backend>/<side>.csv; each backend is
# summarised by `ringside-results compare --paired` with `off` as the
# baseline (the median of the paired ratios and the Wilcoxon signed-rank p
# per metric: throughput, p50 and server CPU per request; the load
# generator's own CPU is in each row's client_cpu_* columns) into
# OUTDIR/summary.txt, which is printed.
#
# Usage: scripts/syscalls-overhead.sh [-s] [-b BACKENDS] [-r REPS] [-d DURATION] [-w WARMUP]
#                                     [-c CONNS] [-o OUTDIR]
#   -s            compare sweeps with --syscalls once and off (see above)
#   -b BACKENDS   comma-separated (default epoll,io-uring)
#   -r REPS       repetitions (default 8; 6 pairs at least for p < 0.05)
#   -d DURATION   measured window per run (default 1s)
#   -w WARMUP     warm-up per run (default 500ms)
#   -c CONNS      connections (default 50)
#   -o OUTDIR     where the rows and summary.txt go (default:
#                 bench-results/syscalls-overhead-<UTC time>); must not exist
# Server on CPU 0, load generator on CPU 1. Needs root (or
# kernel.perf_event_paranoid <= 1 and a readable tracefs) to count at all:
# without permission the counted sides count nothing and the script says so.
# Exit status: 0, 1 a run or the comparison failed, 2 a bad command line.
# Run it on a quiet machine: anything else running is noise it measures.
set -euo pipefail
cd "$(dirname "$0")/.."
me=syscalls-overhead
# shellcheck source=scripts/server-lib.sh
source scripts/server-lib.sh

backends=epoll,io-uring reps=8 duration=1s warmup=500ms conns=50 out="" sweeps=
while getopts "sb:r:d:w:c:o:h" opt; do
    case $opt in
        s) sweeps=1 ;;
        b) backends=$OPTARG ;; r) reps=$OPTARG ;; d) duration=$OPTARG ;; w) warmup=$OPTARG ;;
        c) conns=$OPTARG ;; o) out=$OPTARG ;;
        *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
    esac
done
[[ $reps =~ ^[0-9]+$ && $reps -ge 1 ]] || { echo "$me: -r wants a whole number of repetitions, got '$reps'" >&2; exit 2; }
out=${out:-bench-results/syscalls-overhead-$(date -u +%Y%m%dT%H%M%SZ)}
if [[ -e $out ]]; then
    echo "$me: $out exists; give a new -o" >&2
    exit 2
fi

cargo build --release --quiet --bin ringside-server --bin ringside-loadgen --bin ringside-results
server=target/release/ringside-server
loadgen=target/release/ringside-loadgen
results=target/release/ringside-results
mkdir -p "$out"
trap 'stop_server' EXIT

IFS=, read -r -a backend_list <<<"$backends"

# One run of side $2 for backend $1 into $out/$1/$2.csv, its output in
# $out/$1/$2.last.log; exits naming the run if it failed. -s: a sweep of one repetition, which starts its own server; otherwise a
# `run` against a fresh server.
run_side() {
    local backend=$1 side=$2 log=$out/$1/$2.last.log flags=() ok=1
    if [[ -n $sweeps ]]; then
        "$loadgen" sweep --backends "$backend" --protocols http --connections "$conns" --repetitions 1 \
            --duration "$duration" --warmup "$warmup" --no-calibrate --syscalls "$side" \
            --csv "$out/$backend/$side.csv" >"$log" 2>&1 || ok=
    else
        start_server "$out/$backend/server.err" \
            "$server" --backend "$backend" --protocol http --cores 0 --stats-listen 127.0.0.1:0 --listen 127.0.0.1:0
        case $side in
            off) flags=(--no-syscalls) ;;
            server) flags=(--syscalls-pid "$server_pid") ;;
        esac
        "$loadgen" run -c "$conns" --cores 1 -d "$duration" --warmup "$warmup" --protocol http \
            --stats "$server_stats" --csv "$out/$backend/$side.csv" "${flags[@]}" --target "$server_addr" \
            >"$log" 2>&1 || ok=
        stop_server
    fi
    if [[ -z $ok ]]; then
        echo "$me: $backend $side run failed:" >&2
        tail -n 20 "$log" >&2
        exit 1
    fi
}

if [[ -n $sweeps ]]; then
    sides=(off once)
    heading="the measured runs of sweeps with a counting run against sweeps without"
else
    sides=(off client server)
    heading="counting against not counting"
fi
for rep in $(seq 1 "$reps"); do
    for backend in "${backend_list[@]}"; do
        mkdir -p "$out/$backend"
        for i in $(seq 0 $((${#sides[@]} - 1))); do
            side=${sides[$(((rep - 1 + i) % ${#sides[@]}))]}
            run_side "$backend" "$side"
            # The run's figures: the sweep table's line, or run's Requests line.
            pattern='^ *Requests'
            [[ -n $sweeps ]] && pattern="^ +$backend "
            printf '%s rep %d/%d %-8s %-7s %s\n' "$(date -u +%T)" "$rep" "$reps" "$backend" "$side" \
                "$(grep -m1 -E "$pattern" "$out/$backend/$side.last.log" | tr -s ' ' || true)"
        done
    done
done

for backend in "${backend_list[@]}"; do
    csvs=()
    for side in "${sides[@]}"; do
        csvs+=("$out/$backend/$side.csv")
    done
    {
        echo "== $backend: $heading ($reps pairs; baseline off.csv)"
        "$results" compare --paired --metric throughput --metric p50 --metric server_cpu "${csvs[@]}"
        echo
    } >>"$out/summary.txt"
done
cat "$out/summary.txt"
echo "rows and summary in $out"
