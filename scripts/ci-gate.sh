#!/usr/bin/env bash
# For CI: build, run a short sweep, and judge it with `ringside-results gate`
# against a rules file (and, for [[baseline]] rules, a baseline CSV). Exits
# with the gate's status: 0 every rule passed, 1 a regression, 2 bad rules or
# input. The sweep's CSV is kept (--csv) to upload as an artifact: a later
# run can use it as its baseline. See docs/CI.md.
#
# Usage: scripts/ci-gate.sh --rules FILE [--baseline BASE.csv] [--csv OUT.csv]
#          [--backends LIST] [--protocols LIST] [--connections LIST]
#          [--repetitions N] [--duration D] [--warmup D] [--strict] [--no-build]
#          [-- more ringside-loadgen sweep flags]
#   defaults: --csv ringside-ci.csv --backends (every backend) --protocols http
#             --connections 50 --repetitions 5 --duration 1s --warmup 200ms
# Fewer than 5 repetitions cannot show a significant change: the gate then
# warns that its statistical rules cannot fail (--strict makes that exit 2).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,17p' "$0" >&2; exit 2; }
rules= baseline= csv=ringside-ci.csv backends= protocols=http connections=50 reps=5 duration=1s warmup=200ms
strict=() build=1
while (($#)); do
    case $1 in
        --rules) rules=${2:?}; shift ;;
        --baseline) baseline=${2:?}; shift ;;
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
if [[ -e $csv ]]; then
    echo "ci-gate: $csv exists; the sweep appends, so its old rows would be judged too: delete it or pass another --csv" >&2
    exit 2
fi

if [[ -n $build ]]; then
    cargo build --release --locked --quiet --bin ringside-server --bin ringside-loadgen --bin ringside-results
fi
flags=(--protocols "$protocols" --connections "$connections" --repetitions "$reps"
    --duration "$duration" --warmup "$warmup" --csv "$csv")
[[ -n $backends ]] && flags+=(--backends "$backends")

echo "== sweep: ringside-loadgen sweep ${flags[*]} $*"
sweep_status=0
target/release/ringside-loadgen sweep "${flags[@]}" "$@" || sweep_status=$?
case $sweep_status in
    0) ;;
    # Some run failed or a backend was skipped; the rows are written, and the
    # rules (e.g. a [[check]] with complete = true) decide.
    3) echo "ci-gate: WARNING: the sweep reported a failed run or a skipped backend (exit 3); gating what it wrote" >&2 ;;
    *) echo "ci-gate: the sweep failed (exit $sweep_status)" >&2; exit 2 ;;
esac

gate=(target/release/ringside-results gate --rules "$rules" "${strict[@]}")
[[ -n $baseline ]] && gate+=(--baseline "$baseline")
echo "== gate: ${gate[*]} $csv"
"${gate[@]}" "$csv"
