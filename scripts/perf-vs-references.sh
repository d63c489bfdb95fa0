#!/usr/bin/env bash
# ringside's backends against minimal C servers doing the same job (the
# floors in scripts/reference/): req/s and the server's CPU per request,
# 128-byte echo, closed loop, ringside-loadgen pinned to one CPU and the
# server to the other. Pairs: ringside epoll vs epoll_echo.c, ringside
# thread-per-conn vs tpc_echo.c, and ringside io-uring vs ringside epoll
# (issue 6's io_uring target; there "ours" is io-uring, "ref" epoll).
#
# Each run starts a fresh server, waits for its `listening on` line, warms
# it up with a separate load run (-w, discarded), then measures one load run
# with no warm-up of its own. The server's CPU time is read from
# /proc/<pid>/stat (utime + stime, clock ticks, all threads, exited ones
# included) just before and just after that run, for ringside's servers as
# for the C ones, so both sides are measured alike; the window therefore
# also holds the run's connects and closes (a few ms against seconds). The
# request count is the load generator's (echo servers count none). Sides are
# interleaved within each repetition, the first side alternating (ringside
# then reference in odd repetitions, reference then ringside in even ones);
# the ratios are of those adjacent pairs.
#
# Usage: scripts/perf-vs-references.sh [-r REPS] [-d DURATION] [-c "50,500"] [-o OUTDIR]
#                                      [-w WARMUP] [-s CPU] [-l CPU]
#   -r REPS       repetitions (default 5)
#   -d DURATION   measured window per run, ringside-loadgen syntax (default 5s)
#   -c LIST       connection counts, comma-separated (default 50,500)
#   -o OUTDIR     where the raw CSVs (one per server, schema results/SCHEMA.md),
#                 runs.tsv and summary.txt go (default:
#                 bench-results/perf-vs-references-<UTC time>); must not exist
#   -w WARMUP     warm-up run before each measured one (default 1s; 0s: none)
#   -s CPU, -l CPU  server's and load generator's CPUs (default 0 and 1)
#   -p LIST       pairs to run, by label, comma-separated (default: all:
#                 epoll,thread-per-conn,io-uring-vs-epoll)
# Needs: cc, taskset, python3 (to read the CSV).
set -euo pipefail
cd "$(dirname "$0")/.."

reps=5 duration=5s conns_list=50,500 out="" warmup=1s server_cpu=0 client_cpu=1 only=""
while getopts "r:d:c:o:w:s:l:p:h" opt; do
    case $opt in
        r) reps=$OPTARG ;; d) duration=$OPTARG ;; c) conns_list=$OPTARG ;; o) out=$OPTARG ;;
        w) warmup=$OPTARG ;; s) server_cpu=$OPTARG ;; l) client_cpu=$OPTARG ;; p) only=$OPTARG ;;
        *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[[ $# -eq 0 ]] || { echo "perf-vs-references: unexpected argument '$1' (see -h)" >&2; exit 2; }
[[ $reps =~ ^[1-9][0-9]*$ ]] || { echo "perf-vs-references: -r wants a positive count, not '$reps'" >&2; exit 2; }
IFS=, read -r -a conns_arr <<<"$conns_list"
for tool in cc taskset python3; do
    command -v $tool >/dev/null || { echo "perf-vs-references: $tool is needed" >&2; exit 2; }
done
out=${out:-bench-results/perf-vs-references-$(date -u +%Y%m%dT%H%M%SZ)}
[[ -e $out ]] && { echo "perf-vs-references: $out exists; pick another -o" >&2; exit 2; }

cargo build --release --quiet --bin ringside-server --bin ringside-loadgen
mkdir -p target/reference
cc -O2 -Wall -Wextra -Werror -o target/reference/epoll_echo scripts/reference/epoll_echo.c
cc -O2 -Wall -Wextra -Werror -pthread -o target/reference/tpc_echo scripts/reference/tpc_echo.c
loadgen=target/release/ringside-loadgen
hz=$(getconf CLK_TCK)
mkdir -p "$out"

tmp=$(mktemp -d)
pid="" srv_fd=""
cleanup() {
    if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The pairs compared: "label ringside-server reference-server". Add a line
# (and its servers below) for more.
all_pairs=(
    "epoll ringside-epoll c-epoll"
    "thread-per-conn ringside-thread-per-conn c-tpc"
    "io-uring-vs-epoll ringside-io-uring ringside-epoll"
)
pairs=()
for pair in "${all_pairs[@]}"; do
    [[ -z $only || ",$only," == *",${pair%% *},"* ]] && pairs+=("$pair")
done
if [[ ${#pairs[@]} -eq 0 ]]; then
    echo "perf-vs-references: -p $only names no pair; the pairs are: $(printf '%s ' "${all_pairs[@]%% *}")" >&2
    exit 2
fi

# The command line of a server by name, in the array `cmd`; each listens on
# 127.0.0.1, port 0, and prints `listening on ADDR`.
server_cmd() {
    case $1 in
        ringside-*) cmd=(target/release/ringside-server --backend "${1#ringside-}" --protocol echo
                         --listen 127.0.0.1:0 --cores "$server_cpu") ;;
        c-epoll) cmd=(target/reference/epoll_echo 0 127.0.0.1) ;;
        c-tpc) cmd=(target/reference/tpc_echo 0 127.0.0.1) ;;
        *) echo "perf-vs-references: no server named $1" >&2; exit 2 ;;
    esac
}

# Start a server pinned to the server CPU; return once it prints its
# `listening on` line (read through a FIFO, so no polling), with `pid` and
# `addr` set.
start_server() {
    rm -f "$tmp/fifo"
    mkfifo "$tmp/fifo"
    taskset -c "$server_cpu" "$@" >"$tmp/fifo" 2>"$tmp/err" &
    pid=$!
    exec {srv_fd}<"$tmp/fifo"
    local line=""
    if ! read -r -t 20 -u "$srv_fd" line || [[ $line != "listening on "* ]]; then
        echo "perf-vs-references: $* did not start (first line: '$line'):" >&2
        cat "$tmp/err" >&2
        exit 1
    fi
    addr=${line#listening on }
}

# Stop it (SIGTERM); its last words stay in the FIFO, which is then closed.
stop_server() {
    kill "$pid"
    local rc=0
    wait "$pid" || rc=$?
    (( rc == 0 )) || { echo "perf-vs-references: the server exited with status $rc:" >&2; cat "$tmp/err" >&2; }
    pid=""
    exec {srv_fd}<&-
}

# The CPU time of a whole process so far (user + system, every thread,
# exited threads included), in clock ticks. The fields after the command
# name, which may hold spaces, start at the 3rd (state); utime and stime
# are the 14th and 15th.
cpu_ticks() {
    local stat f
    stat=$(<"/proc/$1/stat")
    read -r -a f <<<"${stat##*) }"
    echo $(( f[11] + f[12] ))
}

load_failed() {
    echo "perf-vs-references: the load generator failed against $1 at $2 connections:" >&2
    cat "$tmp/load.err" >&2
    exit 1
}

# One repetition of one server at CONNS connections: prints
# "req/s cpu_us_per_req" and appends the load generator's row to CSV.
run_one() {
    local name=$1 conns=$2 csv=$3 before after
    server_cmd "$name"
    start_server "${cmd[@]}"
    local load=("$loadgen" run -a "$addr" --protocol echo --request-bytes 128 -c "$conns" --cores "$client_cpu"
                --no-calibrate --timeout 10s -q)
    if [[ $warmup != 0 && $warmup != 0s ]]; then
        "${load[@]}" -d "$warmup" --warmup 0s >/dev/null 2>"$tmp/load.err" || load_failed "$name" "$conns"
    fi
    before=$(cpu_ticks "$pid")
    "${load[@]}" -d "$duration" --warmup 0s --csv "$csv" >"$tmp/load.out" 2>"$tmp/load.err" \
        || load_failed "$name" "$conns"
    after=$(cpu_ticks "$pid")
    stop_server
    python3 - "$csv" "$(( after - before ))" "$hz" "$name" "$conns" <<'PY'
import csv, sys
path, ticks, hz, name, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
with open(path, newline="") as f:
    row = list(csv.DictReader(f))[-1]
reqs, secs = int(row["requests"]), float(row["duration_s"])
errors = sum(int(row[k]) for k in ("errors_connect", "errors_reset", "errors_timeout", "errors_bad_response"))
if errors or int(row["conns_unanswered"]) or row["complete"] != "true" or reqs == 0:
    sys.stderr.write(f"perf-vs-references: warning: {name} c={conns}: {errors} errors, "
                     f"{row['conns_unanswered']} connections unanswered, complete={row['complete']}, "
                     f"{reqs} requests ({row['note']})\n")
print(f"{reqs / secs:.0f} {ticks * 1e6 / hz / reqs if reqs else 0:.3f}")
PY
}

runs=$out/runs.tsv
printf 'rep\tpair\tconns\tside\tserver\treq_s\tcpu_us_per_req\n' >"$runs"
printf '%-4s %-18s %6s %-26s %10s %12s\n' rep pair conns server req/s cpu_us/req
for rep in $(seq "$reps"); do
    for pair in "${pairs[@]}"; do
        read -r label ours theirs <<<"$pair"
        for conns in "${conns_arr[@]}"; do
            # Which side goes first alternates by repetition (A B, B A, ...),
            # so a drift within a pair does not always favour one side.
            order="ringside reference"
            ((rep % 2 == 0)) && order="reference ringside"
            for side in $order; do
                name=$ours; [[ $side == reference ]] && name=$theirs
                # Not in a subshell, so the EXIT trap knows the server's pid.
                run_one "$name" "$conns" "$out/$name.csv" >"$tmp/result"
                read -r rps cpu <"$tmp/result"
                printf '%-4s %-18s %6s %-26s %10s %12s\n' "$rep" "$label" "$conns" "$name" "$rps" "$cpu"
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$label" "$conns" "$side" "$name" "$rps" "$cpu" >>"$runs"
            done
        done
    done
done

# Per pair and connection count: medians of each side, and the median and
# min-max of the paired ratios ringside/reference (req/s: above 1 is
# ringside faster; CPU: below 1 is ringside cheaper).
echo
awk -F'\t' -v reps="$reps" -v dur="$duration" '
    function median(a, n,    i, j, t) {
        for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
        return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function stats(key, col,    n, i, a, b, q, lo, hi) {
        n = 0; lo = ""; hi = ""
        for (i = 1; i <= reps; i++) {
            if (!((key SUBSEP i SUBSEP "ringside") in v) || !((key SUBSEP i SUBSEP "reference") in v)) continue
            n++
            split(v[key, i, "ringside"], x, " "); a[n] = x[col]
            split(v[key, i, "reference"], y, " "); b[n] = y[col]
            q[n] = y[col] > 0 ? x[col] / y[col] : 0
            if (lo == "" || q[n] < lo) lo = q[n]
            if (hi == "" || q[n] > hi) hi = q[n]
        }
        return sprintf("%s %s %s %s %s", median(a, n), median(b, n), median(q, n), lo, hi)
    }
    NR > 1 {
        key = $2 SUBSEP $3
        v[key, $1, $4] = $6 " " $7
        if (!(key in seen)) { seen[key] = 1; order[++k] = key; label[key] = $2; conns[key] = $3 }
    }
    END {
        printf "echo 128 B, %s repetitions of %s; medians, and ringside/reference ratios of paired runs (min-max)\n", reps, dur
        printf "%-18s %6s | %11s %11s %6s %13s | %9s %9s %6s %13s\n", "pair", "conns", "req/s ours", "req/s ref", "ratio", "min-max", "cpu ours", "cpu ref", "ratio", "min-max"
        for (i = 1; i <= k; i++) {
            key = order[i]
            split(stats(key, 1), r, " "); split(stats(key, 2), c, " ")
            printf "%-18s %6s | %11.0f %11.0f %6.3f %6.3f-%6.3f | %9.3f %9.3f %6.3f %6.3f-%6.3f\n", label[key], conns[key], r[1], r[2], r[3], r[4], r[5], c[1], c[2], c[3], c[4], c[5]
        }
        print "(cpu: server CPU us per request, /proc utime+stime; req/s ratio > 1 and cpu ratio < 1 favour ringside)"
    }' "$runs" | tee "$out/summary.txt"
echo "raw rows: $out/*.csv; runs: $runs"
