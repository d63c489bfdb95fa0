#!/usr/bin/env bash
# Prove `ringside-results gate` against false alarms and missed regressions.
#
# (a) A/A: RUNS times, two fresh sweeps of the same build, the second gated
#     against the first: any alarm is a false alarm (expected: none).
#     The two sides of a gate run are interleaved, one repetition of each in
#     turn, as a CI job comparing a baseline build with the candidate should
#     run them (scripts/ci-gate.sh --baseline-server): a noisy minute then
#     falls on both sides. Two sweeps one after the other raised 2 false
#     alarms in 10 here (docs/CI.md).
# (b) Injected slowdown: a calibration first measures the server's CPU per
#     request and picks a per-request spin (`ringside-server --request-work`)
#     that makes the first backend TARGET% slower in throughput, within 1
#     point (from CPU x TARGET / (100 - TARGET), corrected by what it
#     measures: REPS runs with the spin interleaved with REPS without, the
#     change of their medians); then RUNS times, a fresh sweep without
#     and one with the spin, gated: every run should raise an alarm. The
#     summary gives the median slowdown the runs themselves measured, which
#     is the size actually tested (it can differ from the calibration's).
#
# The rules (written to the work directory, and printed): METRICS (default
# throughput and p99) of every backend must not regress more than LIMIT% from
# the baseline, backend options ignored (the spin shows in them). A rule fails
# only on a difference both significant (Mann-Whitney, p < 0.05) and beyond
# the limit.
#
# Usage: scripts/gate-experiment.sh [-n RUNS] [-r REPS] [-d DURATION] [-w WARMUP]
#                                   [-b BACKENDS] [-c CONNS] [-m METRICS] [-l LIMIT] [-t TARGET] [-o DIR]
#   defaults: -n 10 -r 5 -d 500ms -w 200ms -b epoll,io-uring -c 50 -m throughput,p99 -l 10 -t 15
#   -o keeps every CSV, rules file and gate output in DIR (default: a temp dir,
#   removed at the end).
#   -e aa or -e slow runs only that experiment (default both; -e aa skips the
#   calibration).
# Every gate run is judged twice from the same CSVs: unpaired (Mann-Whitney)
# and paired (--paired: Wilcoxon signed-rank, repetition by repetition), and
# the alarms of both are reported: per gate run (any rule failed), and per
# rule and backend (how many gate runs each failed).
# Exit status (the ringside binaries' table): 0 no false alarm and every
# slowdown caught, 4 otherwise (the gate failed the experiment), 1 a sweep or
# gate could not run, 2 a bad command line.
# Takes about RUNS x 4 sweeps of BACKENDS x REPS runs (10 runs: ~10 minutes).
# Needs jq: the gate's verdicts are read from `gate --format json`. The
# median change over the runs comes from `ringside-results summarize` (each
# run's change per backend and metric, a label,value table in the work
# directory), not from the script.
# Run it on a quiet machine: anything else running is noise it measures.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=10 reps=5 duration=500ms warmup=200ms backends=epoll,io-uring conns=50 metrics=throughput,p99
limit=10 target=15 keep="" only=""
while getopts "n:r:d:w:b:c:m:l:t:o:e:" opt; do
    case $opt in
        n) runs=$OPTARG ;; r) reps=$OPTARG ;; d) duration=$OPTARG ;; w) warmup=$OPTARG ;;
        b) backends=$OPTARG ;; c) conns=$OPTARG ;; m) metrics=$OPTARG ;; l) limit=$OPTARG ;;
        t) target=$OPTARG ;; e) only=$OPTARG ;;
        o) keep=$OPTARG ;;
        *) sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2; exit 2 ;;
    esac
done

command -v jq >/dev/null || { echo "gate-experiment: jq is needed (apt-get install jq)" >&2; exit 2; }
cargo build --release --quiet --bin ringside-server --bin ringside-loadgen --bin ringside-results
loadgen=target/release/ringside-loadgen
results=target/release/ringside-results
if [[ -n $keep ]]; then
    mkdir -p "$keep"
    work=$keep
else
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
fi
IFS=, read -r -a backend_list <<<"$backends"

# Sweep REPS repetitions ($1) into CSV $2, appending; the rest are extra
# sweep flags. No system calls are counted: the experiment judges none, and
# each one-repetition sweep of a pair would otherwise add a counting run per
# backend (--syscalls once), doubling its time.
sweep_append() {
    local n=$1 csv=$2
    shift 2
    if ! $loadgen sweep --backends "$backends" --protocols http --connections "$conns" \
        --repetitions "$n" --duration "$duration" --warmup "$warmup" --no-calibrate --syscalls off \
        --csv "$csv" "$@" \
        >>"$csv.log" 2>&1; then
        echo "gate-experiment: the sweep into $csv failed (or a run was incomplete); its output:" >&2
        tail -n 20 "$csv.log" >&2
        exit 1
    fi
}

# One fresh sweep of REPS repetitions into CSV $1; the rest are extra flags.
sweep() {
    local csv=$1
    shift
    rm -f "$csv" "$csv.log"
    sweep_append "$reps" "$csv" "$@"
}

# The two sides of one gate run, interleaved: repetition by repetition, a
# sweep into $1 (plain) and one into $2 (with the rest as extra flags), so
# a change in the machine's load during the run falls on both sides alike.
sweep_pair() {
    local base=$1 cur=$2 r
    shift 2
    rm -f "$base" "$base.log" "$cur" "$cur.log"
    # The side that runs first alternates, so a machine that warms up (or
    # slows down) within a repetition favours neither side.
    for r in $(seq "$reps"); do
        if (( r % 2 == 1 )); then
            sweep_append 1 "$base"
            sweep_append 1 "$cur" "$@"
        else
            sweep_append 1 "$cur" "$@"
            sweep_append 1 "$base"
        fi
    done
}

# Gate $3 against baseline $2 with rules $1, its JSON verdicts in $4 (stderr in
# $4.err); its exit status in $status (0 pass, 4 a regression; anything else:
# it could not judge).
judge() {
    status=0
    $results gate --format json --rules "$1" --baseline "$2" "$3" "${@:5}" >"$4" 2>"$4.err" || status=$?
    if ((status != 0 && status != 4)); then
        echo "gate-experiment: the gate could not judge $3:" >&2
        cat "$4.err" "$4" >&2
        exit 1
    fi
}

# "backend metric change% p VERDICT" for each workload a gate output ($1, JSON)
# judged statistically.
changes() {
    jq -r '.rules[] | .metric as $m | .findings[] | select(.p != null)
           | [.workload.backend, $m, .delta_pct, .p, (.verdict | ascii_upcase)] | @tsv' "$1" \
        | awk -F'\t' '{ printf "%s %s %+.1f %.3f %s\n", $1, $2, $3, $4, $5 }'
}

# "backend metric,change%" rows (a label,value table's, full precision) for
# each workload a gate output ($1, JSON) judged statistically.
change_rows() {
    jq -r '.rules[] | .metric as $m | .findings[] | select(.p != null)
           | "\(.workload.backend) \($m),\(.delta_pct)"' "$1"
}

rules=$work/rules.toml
for metric in ${metrics//,/ }; do
    printf '[[baseline]]\nprotocol = "http"\nmetric = "%s"\nmax_regression_pct = %s\nignore_options = true\n\n' \
        "$metric" "$limit"
done >"$rules"
# Rules that never fail, only to read the gate's figures.
measure() {
    printf '[[baseline]]\nmetric = "%s"\nmax_regression_pct = 1e9\nignore_options = true\n' "$1" >"$work/measure-$1.toml"
    echo "$work/measure-$1.toml"
}

echo "== rules ($rules)"
cat "$rules"
calibrated="not measured (-e aa)"
if [[ $only != aa ]]; then
    echo "== calibration: CPU per request without added work"
    sweep "$work/cal-base.csv"
    judge "$(measure server_cpu)" "$work/cal-base.csv" "$work/cal-base.csv" "$work/cal-cpu.out"
    declare -A cpu spin
    for b in "${backend_list[@]}"; do
        cpu[$b]=$(jq -r --arg b "$b" '.rules[].findings[] | select(.workload.backend == $b) | .baseline // empty' "$work/cal-cpu.out")
        [[ -n ${cpu[$b]} ]] || { echo "gate-experiment: no CPU per request for $b:" >&2; cat "$work/cal-cpu.out" >&2; exit 1; }
        printf "  %s: %.2f us of server CPU per request\n" "$b" "${cpu[$b]}"
    done

    # A server that is CPU-bound at c us per request and spins w more is
    # w / (c + w) slower: aim at the target with w = c x t / (100 - t), then
    # correct by what was measured.
    share=$(awk -v t="$target" 'BEGIN { print t / (100 - t) }')
    spin_flags=()
    for attempt in 1 2 3 4 5 6; do
        spin_flags=()
        for b in "${backend_list[@]}"; do
            spin[$b]=$(awk -v c="${cpu[$b]}" -v s="$share" 'BEGIN { printf "%d", c * s * 1000 + 0.5 }')
            spin_flags+=(--server-arg "$b=--request-work=spin:${spin[$b]}ns")
        done
        echo "== calibration $attempt: spin = $share x CPU per request (${spin_flags[*]})"
        # Interleaved with fresh baseline runs, as the experiment's runs
        # are (the change of the medians of the two interleaved sides): a
        # slowdown measured against the first calibration sweep, minutes
        # earlier, was off by 2 to 14 points from what the runs then
        # measured.
        sweep_pair "$work/cal-base-$attempt.csv" "$work/cal-slow.csv" "${spin_flags[@]}"
        judge "$(measure throughput)" "$work/cal-base-$attempt.csv" "$work/cal-slow.csv" "$work/cal-slow.out" --paired
        off=0 worst=0
        while read -r b _ pct _; do
            echo "  $b: throughput $pct% with spin:${spin[$b]}ns"
            # Within 1 point of the target: the first backend's figure
            # steers (one share of CPU per request for all), the others'
            # are printed and reported as calibrated.
            if [[ $worst == 0 ]]; then
                worst=$pct
                awk -v p="$pct" -v t="$target" 'BEGIN { d = -p - t; exit !(d > 1 || d < -1) }' && off=1
            fi
        done < <(changes "$work/cal-slow.out")
        ((off == 0)) && break
        if ((attempt == 6)); then
            echo "gate-experiment: could not make ${backend_list[0]} $target% (+-1) slower; is the server CPU-bound (is the load generator's CPU free)?" >&2
            exit 1
        fi
        # Slowdown s from share x: x' = x * (t / (100 - t)) / (s / (100 - s)).
        share=$(awk -v x="$share" -v t="$target" -v s="$worst" 'BEGIN { s = -s; if (s < 1) s = 1; print x * (t / (100 - t)) / (s / (100 - s)) }')
    done
    calibrated=$(for b in "${backend_list[@]}"; do changes "$work/cal-slow.out" | awk -v b="$b" '$1 == b && $2 == "throughput" { printf "%s %s%% ", b, $3 }'; done)
fi

# One experiment: $1 its name, $2 "" (A/A) or "slow"; fills $work/$1-*.
experiment() {
    local name=$1 slow=$2 alarms=0 paired_alarms=0 paired_status i flags=()
    [[ -n $slow ]] && flags=("${spin_flags[@]}")
    : >"$work/$name.changes"
    echo label,value >"$work/$name.table.csv"
    for i in $(seq "$runs"); do
        sweep_pair "$work/$name-$i-base.csv" "$work/$name-$i-cur.csv" "${flags[@]}"
        judge "$rules" "$work/$name-$i-base.csv" "$work/$name-$i-cur.csv" "$work/$name-$i.paired.out" --paired
        ((status == 4)) && paired_alarms=$((paired_alarms + 1))
        paired_status=$status
        judge "$rules" "$work/$name-$i-base.csv" "$work/$name-$i-cur.csv" "$work/$name-$i.out"
        ((status == 4)) && alarms=$((alarms + 1))
        changes "$work/$name-$i.out" | tee -a "$work/$name.changes" >"$work/$name-$i.changes"
        change_rows "$work/$name-$i.out" >>"$work/$name.table.csv"
        printf '  %s %2d/%d: gate exit %d (paired %d);' "$name" "$i" "$runs" "$status" "$paired_status"
        awk '{ printf " %s %s %s%% p=%s %s;", $1, $2, $3, $4, $5 }' "$work/$name-$i.changes"
        echo
    done
    echo "$alarms" >"$work/$name.alarms"
    echo "$paired_alarms" >"$work/$name.paired-alarms"
}

experiments=()
[[ $only != slow ]] && experiments+=(aa)
[[ $only != aa ]] && experiments+=(slow)
for e in "${experiments[@]}"; do
    if [[ $e == aa ]]; then
        echo "== A/A: $runs gate runs, each two sweeps of the same build, interleaved by repetition"
        experiment aa ""
    else
        echo "== slowdown: $runs gate runs, the current side with ${spin_flags[*]}"
        experiment slow slow
    fi
done

echo
echo "== summary (limit $limit%, p < 0.05 two-sided on the bad side of the limit; $reps repetitions of $duration per side, the side that runs first alternating; backends $backends, http, c=$conns)"
echo "   calibrated slowdown: $calibrated(target -$target%)"
printf '%-10s %5s %7s %7s %9s   %s\n' experiment runs alarms paired expected "median change over the runs ($metrics) per backend"
failed=0
for e in "${experiments[@]}"; do
    alarms=$(cat "$work/$e.alarms") paired=$(cat "$work/$e.paired-alarms")
    if [[ $e == aa ]]; then
        label=A/A expected=0
        ((alarms == 0 && paired == 0)) || failed=1
    else
        label=slowdown expected=$runs
        ((alarms == runs && paired == runs)) || failed=1
    fi
    # Each backend's and metric's median over the runs, from summarize's CSV
    # (label, n, median, ...); "-" where no run judged it.
    : >"$work/$e.summary.csv"
    if (($(wc -l <"$work/$e.table.csv") > 1)); then
        $results summarize --format csv "$work/$e.table.csv" >"$work/$e.summary.csv"
    fi
    figures=""
    for b in "${backend_list[@]}"; do
        figures+="$b"
        sep=" "
        for metric in ${metrics//,/ }; do
            m=$(awk -F, -v l="$b $metric" '$1 == l { printf "%+.1f%%", $3 }' "$work/$e.summary.csv")
            figures+="$sep${m:--}"
            sep=" / "
        done
        figures+="   "
    done
    printf '%-10s %5d %7d %7d %9d   %s\n' "$label" "$runs" "$alarms" "$paired" "$expected" "$figures"
done
echo "== each rule on each backend: the gate runs it failed, unpaired and paired (a rule judges every backend on its own)"
printf '   %-10s %-10s %-12s %9s %9s\n' experiment backend metric unpaired paired
for e in "${experiments[@]}"; do
    label=A/A
    [[ $e == slow ]] && label=slowdown
    for i in $(seq "$runs"); do
        for kind in out paired.out; do
            jq -r --arg k "$kind" '.rules[] | .metric as $m | .findings[] | select(.p != null)
                | "\($k) \(.workload.backend) \($m) \(.verdict)"' "$work/$e-$i.$kind"
        done
    done | awk -v e="$label" -v n="$runs" '
        { key = $2 " " $3; if (!(key in seen)) { seen[key] = 1; order[++k] = key }
          if ($4 == "fail") fails[$1 " " key]++ }
        END { for (i = 1; i <= k; i++) { split(order[i], f, " ")
                printf "   %-10s %-10s %-12s %9s %9s\n", e, f[1], f[2],
                    (fails["out " order[i]] + 0) "/" n, (fails["paired.out " order[i]] + 0) "/" n } }'
done
for e in "${experiments[@]}"; do
    if [[ -s $work/$e.summary.csv ]]; then
        echo "== $e: each backend's change over the runs, percent (ringside-results summarize)"
        $results summarize "$work/$e.table.csv" | sed 's/^/   /'
    fi
done
[[ -n $keep ]] && echo "   files: $work"
((failed == 0)) || exit 4
