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
# Each run starts a fresh server, waits for its `listening on` line (nginx:
# its `start worker process` line), warms it up with a separate load run (-w,
# discarded), then measures one load run with no warm-up of its own. Every
# server's CPU time and context switches, ringside's as the others', come
# from /proc: `ringside-loadgen run --server-pid` reads them at the window's
# start and end (nginx's master and worker together); the request count is
# the load generator's (echo servers count none). Sides are interleaved
# within each repetition, the first side alternating (ringside then
# reference in odd repetitions, reference then ringside in even ones), so
# each repetition is a pair of adjacent runs.
#
# Each side's rows go to OUTDIR/<pair>/<server>.csv; each pair is summarised
# by `ringside-results compare --paired` with the reference as baseline
# (medians and their 95% intervals, the median of the paired ratios and the
# Wilcoxon signed-rank p, per connection count) into OUTDIR/summary.txt. The
# wrk pairs write no rows (wrk has no results CSV): their runs are printed
# and kept in runs.tsv, the server's CPU per request from /proc ticks read
# around wrk's run, without statistics.
#
# Usage: scripts/perf-vs-references.sh [-r REPS] [-d DURATION] [-c "50,500"] [-o OUTDIR]
#                                      [-w WARMUP] [-s CPU] [-l CPU] [-p PAIRS]
#   -r REPS       repetitions (default 6: with 5 pairs no p can be below
#                 0.0625, so a difference can be significant only from 6)
#   -d DURATION   measured window per run, ringside-loadgen syntax (default 5s;
#                 whole seconds for the wrk pairs)
#   -c LIST       connection counts, comma-separated (default 50,500)
#   -o OUTDIR     where the rows (<pair>/<server>.csv, schema results/SCHEMA.md),
#                 wrk's output, runs.tsv and summary.txt go (default:
#                 bench-results/perf-vs-references-<UTC time>); must not exist
#   -w WARMUP     warm-up run before each measured one (default 1s; 0s: none;
#                 wrk takes whole seconds, so whole seconds for the wrk pairs)
#   -s CPU, -l CPU  server's and load generator's CPUs (default 0 and 1)
#   -p LIST       pairs to run, by label, comma-separated (default:
#                 epoll,thread-per-conn,io-uring-vs-epoll,nginx,nginx-wrk;
#                 also nginx-epoll, nginx-epoll-wrk and the uring-* pairs);
#                 io-uring-features stands for every uring-* pair
# Needs: cc, taskset; nginx and python3 (to pick a free port) for the nginx
# pairs; wrk for the -wrk pairs.
set -euo pipefail
cd "$(dirname "$0")/.."
me=perf-vs-references
# shellcheck source=scripts/server-lib.sh
source scripts/server-lib.sh

reps=6 duration=5s conns_list=50,500 out="" warmup=1s server_cpu=0 client_cpu=1 only=""
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
for tool in cc taskset; do
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
cleanup() {
    stop_server
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
    [[ $theirs == nginx ]] && needs+=(nginx python3)
    [[ $client == wrk ]] && needs+=(wrk)
    for tool in "${needs[@]}"; do
        command -v "$tool" >/dev/null \
            || { echo "perf-vs-references: pair ${pair%% *} needs $tool (Debian: apt-get install $tool)" >&2; exit 2; }
    done
done

# The command line of a server by name serving PROTOCOL, in the array
# `cmd`; each listens on 127.0.0.1, port 0, and prints `listening on ADDR`
# (nginx, which does neither, is started by start_nginx). ringside's servers
# get no --stats-listen: their figures come from /proc, as the others'.
server_cmd() {
    case $1 in
        ringside-*)
            local flags
            IFS=+ read -r -a flags <<<"${1#ringside-}"
            cmd=(target/release/ringside-server --backend "${flags[0]}" --protocol "$2"
                 --listen 127.0.0.1:0 --cores "$server_cpu" "${flags[@]:1}") ;;
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
# is picked by binding port 0 and closing it. nginx opens its listener
# before it starts its worker, and logs `start worker process PID` (at
# notice level, to stderr here): read through a FIFO, as start_server reads
# a ringside server's line, that line is its readiness and names the
# worker. Sets server_pid (the master's), server_fd, server_addr and
# `pids` (master and worker).
start_nginx() {
    local dir=$tmp/nginx port line
    rm -rf "$dir" "$tmp/nginx.fifo"
    mkdir -p "$dir"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
error_log stderr notice;
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
    mkfifo "$tmp/nginx.fifo"
    taskset -c "$server_cpu" nginx -p "$dir" -c "$dir/nginx.conf" -e stderr </dev/null >/dev/null \
        2>"$tmp/nginx.fifo" &
    server_pid=$!
    exec {server_fd}<"$tmp/nginx.fifo"
    : >"$tmp/err"
    while IFS= read -r -t 20 -u "$server_fd" line; do
        echo "$line" >>"$tmp/err"
        if [[ $line =~ start\ worker\ process\ ([0-9]+) ]]; then
            pids=("$server_pid" "${BASH_REMATCH[1]}")
            server_addr=127.0.0.1:$port
            return
        fi
    done
    echo "perf-vs-references: nginx did not start:" >&2
    cat "$tmp/err" >&2
    exit 1
}

# Start server NAME serving PROTOCOL, pinned to the server CPU, and wait for
# its readiness line: sets server_pid, server_addr and `pids`, the processes
# whose CPU is the server's.
start_named() {
    if [[ $1 == nginx ]]; then
        start_nginx
    else
        server_cmd "$1" "$2"
        start_server "$tmp/err" taskset -c "$server_cpu" "${cmd[@]}" || exit 1
        pids=("$server_pid")
    fi
}

# Stop it; a ringside or C server must exit 0 on SIGTERM (nginx's master
# exits 0 too, after its worker).
stop_named() {
    stop_server
    ((server_status == 0)) || { echo "perf-vs-references: the server exited with status $server_status:" >&2; cat "$tmp/err" >&2; }
}

# The CPU time of processes so far (user + system, every thread, exited
# ones included), in clock ticks: for the wrk pairs only (wrk, unlike
# ringside-loadgen, cannot read it with --server-pid). The fields after the
# command name, which may hold spaces, start at the 3rd (state); utime and
# stime are the 14th and 15th.
cpu_ticks() {
    local stat f total=0 p
    for p in "$@"; do
        stat=$(<"/proc/$p/stat")
        read -r -a f <<<"${stat##*) }"
        total=$(( total + f[11] + f[12] ))
    done
    echo "$total"
}

load_failed() {
    echo "perf-vs-references: the load generator failed against $1 at $2 connections:" >&2
    cat "$tmp/load.err" "$tmp/load.out" >&2 2>/dev/null || true
    exit 1
}

# wrk, one thread pinned to the client CPU, for DURATION against the server
# at CONNS connections: its output goes to FILE, followed by a line
# `client_ticks N`, the CPU time wrk used (user + system, clock ticks: the
# waiting subshell's cutime + cstime).
run_wrk() {
    local secs=$1 conns=$2 file=$3
    (
        taskset -c "$client_cpu" wrk -t1 -c"$conns" -d"$secs" --timeout 10s "http://$server_addr/" >"$file" 2>&1 || exit 1
        stat=$(<"/proc/$BASHPID/stat")
        read -r -a f <<<"${stat##*) }"
        echo "client_ticks $(( f[13] + f[14] ))" >>"$file"
    )
}

# One repetition of server NAME serving PROTOCOL at CONNS connections, driven
# by CLIENT (loadgen or wrk); prints "req/s server_cpu_us_per_req
# client_cpu_us_per_req". The load generator's row is appended to CSV (its
# figures are read back from its summary); wrk's output to the pair's
# wrk.txt.
run_one() {
    local name=$1 conns=$2 csv=$3 proto=$4 client=$5 before after
    : >"$tmp/load.out"
    start_named "$name" "$proto"
    local load=("$loadgen" run -a "$server_addr" --protocol "$proto" -c "$conns" --cores "$client_cpu"
                --no-calibrate --timeout 10s -q --no-syscalls)
    # --no-syscalls: counting system calls slows every counted call (+9%
    # server CPU per request for epoll), and these pairs compare CPU.
    [[ $proto == echo ]] && load+=(--request-bytes 128)
    if [[ $warmup != 0 && $warmup != 0s ]]; then
        if [[ $client == wrk ]]; then
            run_wrk "$warmup" "$conns" "$tmp/load.err" || load_failed "$name" "$conns"
        else
            "${load[@]}" --no-server-counters -d "$warmup" --warmup 0s >/dev/null 2>"$tmp/load.err" \
                || load_failed "$name" "$conns"
        fi
    fi
    if [[ $client == wrk ]]; then
        before=$(cpu_ticks "${pids[@]}")
        run_wrk "$duration" "$conns" "$tmp/load.err" || load_failed "$name" "$conns"
        after=$(cpu_ticks "${pids[@]}")
        stop_named
        { echo "# $name c=$conns"; cat "$tmp/load.err"; } >>"$(dirname "$csv")/wrk.txt"
        # Requests and seconds from wrk's summary; CPU per request from the
        # ticks (arithmetic only: wrk pairs get no statistics).
        awk -v ticks=$(( after - before )) -v hz="$hz" -v name="$name" -v c="$conns" '
            / requests in / { n = $1; t = $4; sub(/,$/, "", t)
                              u = t; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", t)
                              secs = t * (u == "us" ? 1e-6 : u == "ms" ? 1e-3 : u == "m" ? 60 : 1) }
            /Socket errors|Non-2xx/ { bad = bad $0 "; " }
            /^client_ticks / { client = $2 }
            END {
                if (!n) { print "perf-vs-references: no request count in wrk'"'"'s output against " name > "/dev/stderr"; exit 1 }
                if (bad) print "perf-vs-references: warning: " name " c=" c ": " bad > "/dev/stderr"
                printf "%.0f %.3f %.3f\n", n / secs, ticks * 1e6 / hz / n, client * 1e6 / hz / n
            }' "$tmp/load.err"
        return
    fi
    for p in "${pids[@]}"; do load+=(--server-pid "$p"); done
    "${load[@]}" -d "$duration" --warmup 0s --csv "$csv" >"$tmp/load.out" 2>"$tmp/load.err" \
        || load_failed "$name" "$conns"
    stop_named
    if ! grep -q '^  Errors     connect 0, reset 0, timeout 0, bad response 0$' "$tmp/load.out"; then
        echo "perf-vs-references: warning: $name c=$conns: $(grep '^  Errors' "$tmp/load.out")" >&2
    fi
    # The run's own summary: achieved req/s, then the server's and the
    # client's CPU per request.
    sed -n 's/^  Requests .* = \([0-9,]*\) req\/s achieved.*/\1/p;
            s/^  Server     per request: CPU \([0-9.]*\) us.*/\1/p;
            s/^  Client     per request: CPU \([0-9.]*\) us.*/\1/p' "$tmp/load.out" | tr -d , | paste -sd' '
}

runs=$out/runs.tsv
printf 'rep\tpair\tconns\tside\tserver\treq_s\tcpu_us_per_req\tclient_cpu_us_per_req\tclient\tprotocol\n' >"$runs"
printf '%-4s %-22s %6s %-40s %10s %12s %12s\n' rep pair conns server req/s cpu_us/req client_us/req
for rep in $(seq "$reps"); do
    for pair in "${pairs[@]}"; do
        read -r label ours theirs proto client <<<"$pair"
        proto=${proto:-echo} client=${client:-loadgen}
        mkdir -p "$out/$label"
        for conns in "${conns_arr[@]}"; do
            # Which side goes first alternates by repetition (A B, B A, ...),
            # so a drift within a pair does not always favour one side.
            order="ringside reference"
            ((rep % 2 == 0)) && order="reference ringside"
            for side in $order; do
                name=$ours; [[ $side == reference ]] && name=$theirs
                # Not in a subshell, so the EXIT trap knows the server's pid.
                run_one "$name" "$conns" "$out/$label/$name.csv" "$proto" "$client" >"$tmp/result"
                read -r rps cpu client_us <"$tmp/result"
                printf '%-4s %-22s %6s %-40s %10s %12s %12s\n' "$rep" "$label" "$conns" "$name" "$rps" "$cpu" "$client_us"
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$label" "$conns" "$side" "$name" "$rps" "$cpu" \
                    "$client_us" "$client" "$proto" >>"$runs"
            done
        done
    done
done

# Each pair through `compare --paired`: the reference first (the baseline),
# then ringside's side; per connection count, throughput and the server's
# CPU per request (/proc, both sides alike). A run cut short makes compare
# refuse the pair (pairs are by order): its error is kept in the summary.
echo
{
    echo "$reps repetitions of $duration (echo 128 B; the nginx pairs http); reference first, then ringside's side;"
    echo "delta: the median of the paired ratios; p: Wilcoxon signed-rank (compare --paired)"
    for pair in "${pairs[@]}"; do
        read -r label ours theirs _ client <<<"$pair"
        if [[ ${client:-loadgen} == wrk ]]; then
            echo
            echo "== $label: driven by wrk, no results rows: per-run figures in $runs"
            continue
        fi
        echo
        echo "== $label: ringside-results compare --paired --metric throughput --metric server_cpu $label/$theirs.csv $label/$ours.csv"
        target/release/ringside-results compare --paired --metric throughput --metric server_cpu \
            "$out/$label/$theirs.csv" "$out/$label/$ours.csv" 2>&1 || echo "(compare failed)"
    done
} | tee "$out/summary.txt"
echo "rows: $out/<pair>/<server>.csv; runs: $runs; summary: $out/summary.txt"
