#!/usr/bin/env bash
# The main job: build ringside in release mode, run the default sweep (every
# backend, a fresh server per run pinned to CPU 0, the load generator on CPU 1),
# then compare every backend against a baseline inside that one run and draw
# the HTML report.
#
# Usage: scripts/bench.sh [--curve] [--out DIR] [--baseline BACKEND] [SWEEP FLAGS...]
#   --curve            instead of the default comparison, each backend's
#                      latency-throughput curve and its capacity under a
#                      latency objective: `sweep --capacity --slo p99=1ms` at
#                      50 connections, 1 s windows, 6 repetitions (about 9
#                      min on 2 CPUs; the sweep prints its estimate before it
#                      starts); compare then tests the capacities
#   --out DIR          where to write (default: bench-results/<UTC time>); must
#                      not exist yet, so a run never overwrites another
#   --baseline NAME    the backend the others are compared with (default: epoll)
#   SWEEP FLAGS        passed to `ringside-loadgen sweep` as they are, e.g.
#                      `--backends epoll,io-uring --repetitions 8 --duration 1s`;
#                      see `target/release/ringside-loadgen sweep --help`.
#                      The sweep's default, 6 repetitions, is the fewest with
#                      which compare can call a difference significant and
#                      give each median a 95% confidence interval
#
# Writes into DIR:
#   sweep.csv      one row per run (schema: results/SCHEMA.md), and one per
#                  counting run (phase count: the sweep counts system calls
#                  in one run per cell and backend, apart from the measured
#                  runs, whose figures counting would slow; compare and the
#                  report take the syscall figures from those rows alone)
#   compare.txt    `ringside-results compare --across backend --baseline NAME`
#   compare.md     the same as Markdown tables
#   report/        index.html (self-contained) and one SVG per chart
#
# Exit status (the table of the README and of every ringside binary's --help):
# the sweep's (0 all runs completed, 3 a run failed or a backend was skipped:
# its rows are still written, compared and drawn), 1 when the build, the
# sweep, the comparison or the report fails, 2 a bad command line. Nothing
# already measured is deleted on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

out=""
baseline=epoll
curve=false
sweep_args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --curve) curve=true; shift ;;
        --out) out=${2:?--out needs a directory}; shift 2 ;;
        --out=*) out=${1#--out=}; shift ;;
        --baseline) baseline=${2:?--baseline needs a backend name}; shift 2 ;;
        --baseline=*) baseline=${1#--baseline=}; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        --csv|--csv=*)
            echo "bench.sh: --csv is chosen by the script (DIR/sweep.csv); use --out DIR" >&2
            exit 2 ;;
        *) sweep_args+=("$1"); shift ;;
    esac
done
given() { [[ " ${sweep_args[*]-} " == *" $1"* ]]; }
if $curve; then
    # A capacity search per backend and repetition; its probes, the runs at
    # 50% and 80% of each capacity and the capacities draw the curve.
    sweep_args+=(--capacity)
    given --slo || sweep_args+=(--slo p99=1ms)
    given --connections || sweep_args+=(--connections 50)
    given --duration || sweep_args+=(--duration 1s)
    given --warmup || sweep_args+=(--warmup 0.3s)
fi
out=${out:-bench-results/$(date -u +%Y%m%dT%H%M%SZ)}
if [[ -e "$out" ]]; then
    echo "bench.sh: $out already exists; choose another --out (runs are never overwritten)" >&2
    exit 2
fi

echo "== building (cargo build --release)"
cargo build --release --locked --bins || { echo "bench.sh: the build failed" >&2; exit 1; }
bin=target/release

mkdir -p "$out"
csv="$out/sweep.csv"
echo "== sweep -> $csv"
sweep_status=0
"$bin/ringside-loadgen" sweep --csv "$csv" "${sweep_args[@]}" || sweep_status=$?
if [[ ! -s "$csv" ]]; then
    echo "bench.sh: the sweep wrote no results (exit $sweep_status); nothing to compare" >&2
    exit "$(( sweep_status == 0 ? 1 : sweep_status ))"
fi

# The report first: it needs no baseline, so a compare that cannot run
# (say --backends without epoll and no --baseline) still leaves the charts.
echo
echo "== report"
report_status=0
"$bin/ringside-results" report "$csv" --out "$out/report" || report_status=$?
((report_status == 0)) || echo "bench.sh: the report failed; the results are in $csv" >&2

echo
echo "== every backend against $baseline, same run (ringside-results compare)"
echo "(throughput, p99 and server CPU here; every metric in $out/compare.txt)"
compare_status=0
for format in text markdown; do
    ext=txt
    [[ $format == markdown ]] && ext=md
    if "$bin/ringside-results" compare --across backend --baseline "$baseline" --format "$format" "$csv" \
        >"$out/compare.$ext.tmp"; then
        mv "$out/compare.$ext.tmp" "$out/compare.$ext"
    else
        compare_status=1
        rm -f "$out/compare.$ext.tmp"
        break
    fi
done
if ((compare_status == 0)) && $curve; then
    "$bin/ringside-results" compare --across backend --baseline "$baseline" --metric capacity "$csv"
elif ((compare_status == 0)); then
    "$bin/ringside-results" compare --across backend --baseline "$baseline" \
        --metric throughput --metric p99 --metric server_cpu "$csv"
else
    echo "bench.sh: compare failed (is --baseline $baseline among the backends?); the results are in $csv" >&2
fi
((report_status == 0 && compare_status == 0)) || exit 1

echo
echo "results:  $csv"
echo "report:   $out/report/index.html"
echo "compare:  $out/compare.txt (and .md)"
previous=$(ls -1d "$(dirname "$out")"/*/sweep.csv 2>/dev/null | grep -vF "$csv" | tail -n 1 || true)
if [[ -n "$previous" ]]; then
    echo "against the previous run: $bin/ringside-results compare $previous $csv"
fi
exit "$sweep_status"
