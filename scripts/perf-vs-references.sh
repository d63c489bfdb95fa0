#!/usr/bin/env bash
# ringside's backends against servers doing the same job: req/s, the
# server's CPU per request and the client's, closed loop, the load generator
# pinned to one CPU and the server to the other. Default pairs (docs/
# PERFORMANCE.md): ringside epoll vs epoll_echo.c and ringside
# thread-per-conn vs tpc_echo.c (the floors in scripts/reference/, 128-byte
# echo), ringside io-uring vs ringside epoll (echo; there "ours" is
# io-uring, "ref" epoll), and ringside io-uring vs nginx (http), driven by
# ringside-loadgen and by wrk. More pairs by name with -p: io-uring against
# itself with one feature switched (io-uring-features), epoll vs nginx.
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
# the ratios are of those adjacent pairs. Each pair's load generator rows
# go to OUTDIR/<pair>.csv; pairs of two ringside servers (which report their
# own counters there) also go through `ringside-results compare` into
# OUTDIR/compare.txt.
#
# Usage: scripts/perf-vs-references.sh [-r REPS] [-d DURATION] [-c "50,500"] [-o OUTDIR]
#                                      [-w WARMUP] [-s CPU] [-l CPU] [-p PAIRS]
#   -r REPS       repetitions (default 5)
#   -d DURATION   measured window per run, ringside-loadgen syntax (default 5s)
#   -c LIST       connection counts, comma-separated (default 50,500)
#   -o OUTDIR     where the raw CSVs (one per pair, schema results/SCHEMA.md),
#                 wrk's output, runs.tsv, summary.txt and compare.txt go (default:
#                 bench-results/perf-vs-references-<UTC time>); must not exist
#   -w WARMUP     warm-up run before each measured one (default 1s; 0s: none)
#   -s CPU, -l CPU  server's and load generator's CPUs (default 0 and 1)
#   -p LIST       pairs to run, by label, comma-separated (default:
#                 epoll,thread-per-conn,io-uring-vs-epoll,nginx,nginx-wrk;
#                 also nginx-epoll, nginx-epoll-wrk and the uring-* pairs);
#                 io-uring-features stands for every uring-* pair
# Needs: cc, taskset, python3; nginx and wrk for the pairs that use them.
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

cargo build --release --quiet --bin ringside-server --bin ringside-loadgen --bin ringside-results
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

# The pairs compared: "label ringside-server reference-server". A ringside
# server's name may carry flags after `+` (ringside-io-uring+--no-buf-ring).
# Add a line (and its servers below) for more. The default pairs run when
# no -p is given; `-p io-uring-features` runs every uring-* pair: io-uring
# with its defaults against io-uring with one default feature switched off
# (a ratio below 1 in CPU is what that feature buys), and io-uring with one
# optional feature switched on against its defaults.
#
# A pair's 4th and 5th words, if given, are its protocol (default echo) and
# its load generator (`loadgen`, the default, or `wrk`). The nginx pairs
# serve http, `return 200 "Hello, World!"`: nginx with one worker process
# pinned to the server CPU (its idle master too), keep-alive without a
# request limit, no access log.
default_pairs=(
    "epoll ringside-epoll c-epoll"
    "thread-per-conn ringside-thread-per-conn c-tpc"
    "io-uring-vs-epoll ringside-io-uring ringside-epoll"
    "nginx ringside-io-uring nginx http loadgen"
    "nginx-wrk ringside-io-uring nginx http wrk"
)
extra_pairs=(
    "nginx-epoll ringside-epoll nginx http loadgen"
    "nginx-epoll-wrk ringside-epoll nginx http wrk"
)
feature_pairs=(
    "uring-multishot-accept ringside-io-uring ringside-io-uring+--no-multishot-accept"
    "uring-multishot-recv ringside-io-uring ringside-io-uring+--no-multishot-recv"
    "uring-buf-ring ringside-io-uring ringside-io-uring+--no-buf-ring"
    "uring-defer-taskrun ringside-io-uring ringside-io-uring+--no-defer-taskrun"
    "uring-batching ringside-io-uring ringside-io-uring+--no-batching"
    "uring-sqpoll ringside-io-uring+--sqpoll ringside-io-uring"
    "uring-fixed-files ringside-io-uring+--fixed-files ringside-io-uring"
    "uring-zc-send ringside-io-uring+--zc-send=0 ringside-io-uring"
)
all_pairs=("${default_pairs[@]}" "${extra_pairs[@]}" "${feature_pairs[@]}")
pairs=()
if [[ -z $only ]]; then
    pairs=("${default_pairs[@]}")
else
    IFS=, read -r -a wanted <<<"$only"
    for w in "${wanted[@]}"; do
        found=0
        for pair in "${all_pairs[@]}"; do
            if [[ ${pair%% *} == "$w" || ( $w == io-uring-features && $pair == uring-* ) ]]; then
                pairs+=("$pair"); found=1
            fi
        done
        if ((!found)); then
            echo "perf-vs-references: -p $w names no pair; the pairs are: io-uring-features $(printf '%s ' "${all_pairs[@]%% *}")" >&2
            exit 2
        fi
    done
fi
PATH=$PATH:/usr/sbin
for pair in "${pairs[@]}"; do
    read -r _ _ theirs _ client <<<"$pair"
    needs=()
    [[ $theirs == nginx ]] && needs+=(nginx)
    [[ $client == wrk ]] && needs+=(wrk)
    for tool in "${needs[@]}"; do
        command -v "$tool" >/dev/null \
            || { echo "perf-vs-references: pair ${pair%% *} needs $tool (Debian: apt-get install $tool)" >&2; exit 2; }
    done
done

# The command line of a server by name serving PROTOCOL, in the array
# `cmd`; each listens on 127.0.0.1, port 0, and prints `listening on ADDR`
# (nginx, which does neither, is started by start_nginx).
server_cmd() {
    case $1 in
        ringside-*)
            local flags
            IFS=+ read -r -a flags <<<"${1#ringside-}"
            cmd=(target/release/ringside-server --backend "${flags[0]}" --protocol "$2"
                 --listen 127.0.0.1:0 --stats-listen 127.0.0.1:0 --cores "$server_cpu" "${flags[@]:1}") ;;
        c-epoll) cmd=(target/reference/epoll_echo 0 127.0.0.1) ;;
        c-tpc) cmd=(target/reference/tpc_echo 0 127.0.0.1) ;;
        *) echo "perf-vs-references: no server named $1" >&2; exit 2 ;;
    esac
}

# nginx as issue 6 asks for it: one worker pinned to the server CPU,
# `return 200 "Hello, World!"`, keep-alive. Beyond nginx's defaults: no
# access log (a file write per request is not what the comparison is
# about), keep-alive connections never closed by request count or timeout
# during a run (keepalive_requests defaults to 1000), and room for 4096
# connections (the default 512 is below 500 plus the listener). A free port
# is picked by binding port 0 and closing it; nginx is ready once a TCP
# connect succeeds and its worker exists. Sets `pid` (the master's) and
# `addr`.
start_nginx() {
    local dir=$tmp/nginx port i
    rm -rf "$dir"
    mkdir -p "$dir"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
error_log stderr warn;
pid $dir/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server {
        listen 127.0.0.1:$port;
        location / {
            default_type text/plain;
            return 200 "Hello, World!";
        }
    }
}
CONF
    taskset -c "$server_cpu" nginx -p "$dir" -c "$dir/nginx.conf" -e stderr </dev/null >/dev/null 2>"$tmp/err" &
    pid=$!
    for i in $(seq 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && [[ -n $(nginx_workers) ]]; then
            addr=127.0.0.1:$port
            return
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "perf-vs-references: nginx did not start:" >&2
    cat "$tmp/err" >&2
    exit 1
}

# The nginx master's children (its worker).
nginx_workers() {
    cat /proc/"$pid"/task/*/children 2>/dev/null || true
}

# Start a server pinned to the server CPU; return once it prints its
# `listening on` line (read through a FIFO, so no polling), with `pid` and
# `addr` set, and `stats` set to its counters' address if it printed a
# `stats on` line first (ringside's servers; their counters put the
# server's CPU per request in the CSV rows, for `ringside-results compare`).
start_server() {
    rm -f "$tmp/fifo"
    mkfifo "$tmp/fifo"
    taskset -c "$server_cpu" "$@" >"$tmp/fifo" 2>"$tmp/err" &
    pid=$!
    exec {srv_fd}<"$tmp/fifo"
    local line=""
    stats=""
    if read -r -t 20 -u "$srv_fd" line && [[ $line == "stats on "* ]]; then
        stats=${line#stats on }
        read -r -t 20 -u "$srv_fd" line || true
    fi
    if [[ $line != "listening on "* ]]; then
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
    if [[ -n $srv_fd ]]; then exec {srv_fd}<&-; fi
    srv_fd=""
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

# The same for a process and its children (nginx's master and worker).
cpu_ticks_tree() {
    local total=0 p
    for p in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        total=$(( total + $(cpu_ticks "$p") ))
    done
    echo "$total"
}

load_failed() {
    echo "perf-vs-references: the load generator failed against $1 at $2 connections:" >&2
    cat "$tmp/load.err" >&2
    exit 1
}

# wrk, one thread pinned to the client CPU, for DURATION against the server
# at CONNS connections: its output goes to FILE, followed by a line
# `client_ticks N`, the CPU time wrk used (user + system, clock ticks: the
# waiting subshell's cutime + cstime).
run_wrk() {
    local secs=$1 conns=$2 file=$3
    (
        taskset -c "$client_cpu" wrk -t1 -c"$conns" -d"$secs" --timeout 10s "http://$addr/" >"$file" 2>&1 || exit 1
        stat=$(<"/proc/$BASHPID/stat")
        read -r -a f <<<"${stat##*) }"
        echo "client_ticks $(( f[13] + f[14] ))" >>"$file"
    )
}

# One repetition of one server serving PROTOCOL at CONNS connections, driven
# by CLIENT (loadgen or wrk): prints "req/s server_cpu_us_per_req
# client_cpu_us_per_req" and, on a second line, the label `compare --across
# backend` gives the server (`-` for one not ringside's). The load
# generator's row is appended to CSV; wrk's output to the same path with
# .wrk.txt for .csv.
run_one() {
    local name=$1 conns=$2 csv=$3 proto=$4 client=$5 before after
    if [[ $name == nginx ]]; then
        stats=""
        start_nginx
    else
        server_cmd "$name" "$proto"
        start_server "${cmd[@]}"
    fi
    local load=("$loadgen" run -a "$addr" --protocol "$proto" -c "$conns" --cores "$client_cpu"
                --no-calibrate --timeout 10s -q)
    [[ $proto == echo ]] && load+=(--request-bytes 128)
    [[ $name == nginx ]] && load+=(--no-server-counters)
    [[ -n $stats ]] && load+=(--stats "$stats")
    if [[ $warmup != 0 && $warmup != 0s ]]; then
        if [[ $client == wrk ]]; then
            run_wrk "$warmup" "$conns" "$tmp/load.err" || load_failed "$name" "$conns"
        else
            "${load[@]}" -d "$warmup" --warmup 0s >/dev/null 2>"$tmp/load.err" || load_failed "$name" "$conns"
        fi
    fi
    before=$(cpu_ticks_tree "$pid")
    if [[ $client == wrk ]]; then
        run_wrk "$duration" "$conns" "$tmp/load.err" || load_failed "$name" "$conns"
    else
        "${load[@]}" -d "$duration" --warmup 0s --csv "$csv" >"$tmp/load.out" 2>"$tmp/load.err" \
            || load_failed "$name" "$conns"
    fi
    after=$(cpu_ticks_tree "$pid")
    stop_server
    if [[ $client == wrk ]]; then
        { echo "# $name c=$conns"; cat "$tmp/load.err"; } >>"${csv%.csv}.wrk.txt"
        python3 - "$tmp/load.err" "$(( after - before ))" "$hz" "$name" "$conns" <<'PY'
import re, sys
path, ticks, hz, name, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
text = open(path).read()
m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", text)
if not m:
    sys.exit(f"perf-vs-references: no request count in wrk's output against {name}:\n{text}")
reqs = int(m.group(1))
secs = float(m.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60}[m.group(3)]
client = int(re.search(r"client_ticks (\d+)", text).group(1))
bad = [l.strip() for l in text.splitlines() if l.strip().startswith(("Socket errors", "Non-2xx"))]
if bad or reqs == 0:
    sys.stderr.write(f"perf-vs-references: warning: {name} c={conns}: {'; '.join(bad)}, {reqs} requests\n")
per = lambda t: t * 1e6 / hz / reqs if reqs else 0
print(f"{reqs / secs:.0f} {per(ticks):.3f} {per(client):.3f}")
print("-")
PY
        return
    fi
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
# The load generator's own CPU per request, as its row gives it.
client_us = float(row["client_cpu_user_us"]) + float(row["client_cpu_sys_us"])
print(f"{reqs / secs:.0f} {ticks * 1e6 / hz / reqs if reqs else 0:.3f} {client_us:.3f}")
options = row["backend_options"]
print("-" if not row["backend"] else f"{row['backend']} ({options})" if options else f"{row['backend']} (no options)")
PY
}

declare -A baseline ours_label
runs=$out/runs.tsv
printf 'rep\tpair\tconns\tside\tserver\treq_s\tcpu_us_per_req\tclient_cpu_us_per_req\tclient\tprotocol\n' >"$runs"
printf '%-4s %-22s %6s %-40s %10s %12s %12s\n' rep pair conns server req/s cpu_us/req client_us/req
for rep in $(seq "$reps"); do
    for pair in "${pairs[@]}"; do
        read -r label ours theirs proto client <<<"$pair"
        proto=${proto:-echo} client=${client:-loadgen}
        for conns in "${conns_arr[@]}"; do
            # Which side goes first alternates by repetition (A B, B A, ...),
            # so a drift within a pair does not always favour one side.
            order="ringside reference"
            ((rep % 2 == 0)) && order="reference ringside"
            for side in $order; do
                name=$ours; [[ $side == reference ]] && name=$theirs
                # Not in a subshell, so the EXIT trap knows the server's pid.
                run_one "$name" "$conns" "$out/$label.csv" "$proto" "$client" >"$tmp/result"
                { read -r rps cpu client_us; read -r side_label; } <"$tmp/result"
                [[ $side == reference ]] && baseline[$label]=$side_label
                [[ $side == ringside ]] && ours_label[$label]=$side_label
                printf '%-4s %-22s %6s %-40s %10s %12s %12s\n' "$rep" "$label" "$conns" "$name" "$rps" "$cpu" "$client_us"
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$label" "$conns" "$side" "$name" "$rps" "$cpu" \
                    "$client_us" "$client" "$proto" >>"$runs"
            done
        done
    done
done

# Per pair and connection count: medians of each side, the median and
# min-max of the paired ratios ringside/reference (req/s: above 1 is
# ringside faster; CPU: below 1 is ringside cheaper), and the two-sided
# p-value of the Wilcoxon signed-rank test on the pairs' log ratios: the
# runs are paired (adjacent, order alternating), and a paired test is not
# fooled by the machine drifting over the run as an unpaired one is.
echo
python3 - "$runs" "$reps" "$duration" <<'PY' | tee "$out/summary.txt"
import csv, math, statistics, sys
from itertools import combinations
path, reps, dur = sys.argv[1], sys.argv[2], sys.argv[3]
cells, order = {}, []
for r in csv.DictReader(open(path), delimiter="\t"):
    key = (r["pair"], r["conns"])
    if key not in cells:
        cells[key] = {}
        order.append(key)
    cells[key].setdefault(r["rep"], {})[r["side"]] = (float(r["req_s"]), float(r["cpu_us_per_req"]))

def signed_rank_p(ratios):
    """Two-sided Wilcoxon signed-rank p on log ratios (ratios of exactly 1
    dropped): exact up to 50 pairs, the normal approximation beyond."""
    d = [math.log(q) for q in ratios if q > 0 and q != 1]
    n = len(d)
    if n == 0:
        return 1.0
    ranked = sorted(range(n), key=lambda i: abs(d[i]))
    ranks = [0.0] * n
    i = 0
    while i < n:  # average ranks over ties
        j = i
        while j + 1 < n and abs(d[ranked[j + 1]]) == abs(d[ranked[i]]):
            j += 1
        for k in range(i, j + 1):
            ranks[ranked[k]] = (i + j) / 2 + 1
        i = j + 1
    w = sum(r for r, x in zip(ranks, d) if x > 0)
    mean = n * (n + 1) / 4
    if n <= 50:
        # Every assignment of signs to the ranks is equally likely under the
        # null hypothesis: the distribution of the positive ranks' sum, by
        # dynamic programming over doubled (so integer) ranks; count the
        # assignments at least as far from the mean as the one observed.
        counts = {0: 1}
        for r in ranks:
            step = round(2 * r)
            nxt = dict(counts)
            for total, ways in counts.items():
                nxt[total + step] = nxt.get(total + step, 0) + ways
            counts = nxt
        far = abs(2 * w - 2 * mean)
        hits = sum(ways for total, ways in counts.items() if abs(total - 2 * mean) >= far - 1e-9)
        return hits / (1 << n)
    # As results/src/stats.rs signed_rank_p does it (continuity-corrected;
    # ties left out of the variance here).
    sd = math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
    return math.erfc(max(abs(w - mean) - 0.5, 0) / sd / math.sqrt(2))

print(f"{reps} repetitions of {dur} (echo 128 B; the nginx pairs http); medians, ringside/reference ratios of "
      "paired runs (min-max) and their signed-rank p")
print(f"{'pair':<22} {'conns':>6} | {'req/s ours':>11} {'req/s ref':>11} {'ratio':>6} {'min-max':>13} {'p':>6} | "
      f"{'cpu ours':>9} {'cpu ref':>9} {'ratio':>6} {'min-max':>13} {'p':>6}")
for key in order:
    pairs = [v for _, v in sorted(cells[key].items(), key=lambda kv: int(kv[0]))
             if "ringside" in v and "reference" in v]
    if not pairs:
        continue
    cols = []
    for col in (0, 1):
        ours = [v["ringside"][col] for v in pairs]
        ref = [v["reference"][col] for v in pairs]
        q = [a / b for a, b in zip(ours, ref) if b > 0]
        cols.append((statistics.median(ours), statistics.median(ref), statistics.median(q), min(q), max(q),
                     signed_rank_p(q)))
    r, c = cols
    print(f"{key[0]:<22} {key[1]:>6} | {r[0]:>11.0f} {r[1]:>11.0f} {r[2]:>6.3f} {r[3]:>6.3f}-{r[4]:>6.3f} {r[5]:>6.3f} | "
          f"{c[0]:>9.3f} {c[1]:>9.3f} {c[2]:>6.3f} {c[3]:>6.3f}-{c[4]:>6.3f} {c[5]:>6.3f}")
print("(cpu: server CPU us per request, /proc utime+stime; req/s ratio > 1 and cpu ratio < 1 favour ringside;")
print(" p: two-sided Wilcoxon signed-rank test of the paired ratios against 1; with 5 pairs it is at least 0.0625,")
print(" so a difference can be significant at 0.05 only from 6 repetitions)")
PY

# Where both sides are ringside's servers, their rows (server CPU included,
# from the servers' counters) in the pair's CSV go through `compare`: each
# pair's ringside side against its reference, with medians, confidence
# intervals and Mann-Whitney p-values.
: >"$out/compare.txt"
for pair in "${pairs[@]}"; do
    label=${pair%% *}
    base=${baseline[$label]:-} mine=${ours_label[$label]:-}
    [[ -n $base && $base != - && -n $mine && $mine != - ]] || continue
    # compare labels a backend by its name alone unless it ran with two
    # option sets in the file (the feature pairs).
    [[ ${base%% *} != "${mine%% *}" ]] && base=${base%% *}
    {
        echo "== $label: ringside-results compare --across backend --baseline '$base' $out/$label.csv"
        target/release/ringside-results compare --across backend --baseline "$base" \
            --metric throughput --metric server_cpu "$out/$label.csv" || echo "(compare failed)"
        echo
    } >>"$out/compare.txt" 2>&1
done
[[ -s $out/compare.txt ]] && echo "compare's tables (server CPU from the servers' counters): $out/compare.txt"
echo "raw rows: $out/*.csv; runs: $runs"
