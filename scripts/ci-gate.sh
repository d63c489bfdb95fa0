#!/usr/bin/env bash
# For CI: build, run a short sweep, and judge it with `ringside-results gate`
# against a rules file (and, for [[baseline]] rules, a baseline CSV). Exits
# with the gate's status (the table every ringside binary's --help ends
# with): 0 every rule passed, 4 a regression, 1 bad rules or input (or a
# sweep that failed); 2 a bad command line. The sweep's CSV is kept (--csv) to upload as an artifact: a later
# run can use it as its baseline. See docs/CI.md.
#
# Usage: scripts/ci-gate.sh --rules FILE [--baseline BASE.csv | --baseline-server PATH]
#          [--csv OUT.csv] [--backends LIST] [--protocols LIST] [--connections LIST]
#          [--repetitions N] [--duration D] [--warmup D] [--strict] [--no-build]
#          [-- more ringside-loadgen sweep flags]
#   defaults: --csv ringside-ci.csv --backends (every backend) --protocols http
#             --connections 50 --repetitions 5 --duration 1s --warmup 200ms
#   --baseline-server PATH  measure the baseline here, now: PATH is another
#             build's ringside-server (e.g. the target branch's); one
#             repetition with it, one with this build's, in turn, so the
#             machine's drift falls on both sides alike. Its rows go to
#             OUT.baseline.csv. The most reliable baseline (docs/CI.md).
# Fewer than 5 repetitions cannot show a significant change: the gate then
# warns that its statistical rules cannot fail (--strict makes that exit 1).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
rules= baseline= baseline_server= csv=ringside-ci.csv backends= protocols=http connections=50 reps=5 duration=1s warmup=200ms
strict=() build=1
while (($#)); do
    case $1 in
        --rules) rules=${2:?}; shift ;;
        --baseline) baseline=${2:?}; shift ;;
        --baseline-server) baseline_server=${2:?}; shift ;;
        --csv) csv=${2:?}; shift ;;
        --backends) backends=${2:?}; shift ;;
        --protocols) protocols=${2:?}; shift ;;
        --connections) connections=${2:?}; shift ;;
        --repetitions) reps=${2:?}; shift ;;
        --duration) duration=${2:?}; shift ;;
        --warmup) warmup=${2:?}; shift ;;
        --strict) strict=(--strict) ;;
        --no-build) build= ;;
        --) shift; break ;;
        *) echo "ci-gate: unknown argument \`$1\`" >&2; usage ;;
    esac
    shift
done
[[ -n $rules ]] || { echo "ci-gate: --rules FILE is required" >&2; usage; }
[[ -f $rules ]] || { echo "ci-gate: rules file $rules does not exist" >&2; exit 2; }
[[ -z $baseline || -f $baseline ]] || { echo "ci-gate: baseline $baseline does not exist" >&2; exit 2; }
if [[ -n $baseline_server ]]; then
    [[ -z $baseline ]] || { echo "ci-gate: give --baseline or --baseline-server, not both" >&2; exit 2; }
    [[ -x $baseline_server ]] || { echo "ci-gate: --baseline-server $baseline_server is not an executable" >&2; exit 2; }
    baseline=${csv%.csv}.baseline.csv
    if [[ -e $baseline ]]; then
        echo "ci-gate: $baseline exists; the sweep appends, so its old rows would be judged too: delete it" >&2
        exit 2
    fi
fi
if [[ -e $csv ]]; then
    echo "ci-gate: $csv exists; the sweep appends, so its old rows would be judged too: delete it or pass another --csv" >&2
    exit 2
fi

if [[ -n $build ]]; then
    cargo build --release --locked --quiet --bin ringside-server --bin ringside-loadgen --bin ringside-results
fi
flags=(--protocols "$protocols" --connections "$connections" --duration "$duration" --warmup "$warmup")
[[ -n $backends ]] && flags+=(--backends "$backends")

# One sweep: $1 repetitions into CSV $2, the rest extra sweep flags.
sweep() {
    local n=$1 out=$2 status=0
    shift 2
    echo "== sweep: ringside-loadgen sweep ${flags[*]} --repetitions $n --csv $out $*"
    target/release/ringside-loadgen sweep "${flags[@]}" --repetitions "$n" --csv "$out" "$@" || status=$?
    case $status in
        0) ;;
        # Incomplete: some run failed or a backend was skipped; the rows are
        # written, and the rules (e.g. a [[check]] with complete = true) decide.
        3) echo "ci-gate: WARNING: the sweep reported a failed run or a skipped backend (exit 3); gating what it wrote" >&2 ;;
        *) echo "ci-gate: the sweep failed (exit $status)" >&2; exit 1 ;;
    esac
}

if [[ -n $baseline_server ]]; then
    # Each one-repetition sweep would make a counting run per cell and
    # backend (--syscalls once, the default): count in the first repetition
    # only, once per side, unless the flags given say when to count. The
    # gate leaves counting runs out of every figure but server_syscalls, and
    # out of --paired's pairs.
    later=()
    [[ " $* " == *" --syscalls"* || " $* " == *" --no-syscalls "* ]] || later=(--syscalls off)
    # The side that runs first alternates: a machine that warms up (or
    # slows down) within each repetition favours neither.
    for r in $(seq "$reps"); do
        count=()
        ((r == 1)) || count=("${later[@]}")
        if (( r % 2 == 1 )); then
            echo "== repetition $r of $reps: baseline ($baseline_server), then this build"
            sweep 1 "$baseline" --server "$baseline_server" "${count[@]}" "$@"
            sweep 1 "$csv" "${count[@]}" "$@"
        else
            echo "== repetition $r of $reps: this build, then the baseline ($baseline_server)"
            sweep 1 "$csv" "${count[@]}" "$@"
            sweep 1 "$baseline" --server "$baseline_server" "${count[@]}" "$@"
        fi
    done
else
    sweep "$reps" "$csv" "$@"
fi

gate=(target/release/ringside-results gate --rules "$rules" "${strict[@]}")
[[ -n $baseline ]] && gate+=(--baseline "$baseline")
# Interleaved by repetition with the baseline build: judge the runs as pairs.
[[ -n $baseline_server ]] && gate+=(--paired)
echo "== gate: ${gate[*]} $csv"
"${gate[@]}" "$csv"
