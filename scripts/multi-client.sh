#!/usr/bin/env bash
# One server driven by several load generators at once, their results merged
# exactly: each client writes its own CSV row and interval log, all start at
# one wall-clock time (--start-at), and `ringside-results merge` adds their
# histograms into one row. Prints each client's requests, the merged total
# and the merged p99; keeps every file in the output directory.
#
# Usage: sudo scripts/multi-client.sh [OPTIONS] [-- RUN-FLAGS...]
#
# Two ways to place the clients:
#   namespaces (default): a server namespace and N client namespaces, each
#       client joined to the server by its own veth pair (10.79.<i>.2 ->
#       10.79.<i>.1); clients are launched with `ip netns exec <client-ns>`.
#       Needs root and `ip` (iproute2).
#   hosts (--hosts H1,H2,...): the server runs here, listening on 0.0.0.0;
#       client i runs on host Hi through `ssh Hi` (ringside-loadgen on its
#       PATH, or --remote-loadgen), writes its files under --remote-dir and
#       they are copied back with scp. Give --server-addr (this host's
#       address as the clients reach it); the hosts' clocks must be
#       synchronised (NTP). No root needed. ssh runs with BatchMode (keys or
#       an agent, never a password prompt) and --ssh-config's file, if
#       given, for both ssh and scp. Before the server or any load starts,
#       every host is reached once, its directory made and its load
#       generator run (--version): a host that fails stops the run there,
#       named. Each word of the remote command is quoted for the host's
#       shell, so flag values with spaces or quotes arrive as given. Each
#       remote load generator runs under a small sh wrapper that stops it
#       (SIGTERM) when its ssh session's input closes; this script holds
#       that input open until the run ends, so Ctrl-C, or this script
#       ending in any way, stops every remote load generator.
#
# Options:
#   --clients N           load generators in namespace mode (default 2)
#   --hosts H1,H2,...     host mode, one load generator per host
#   --ssh-config FILE     host mode: ssh and scp read this config (-F), e.g.
#                         for the hosts' ports, keys and known_hosts
#   --launcher "CMD"      prefix that runs a command on client i; {ns}, {host}
#                         and {i} are replaced (default `ip netns exec {ns}`,
#                         or `ssh -o BatchMode=yes {host}` in host mode, where
#                         CMD is a remote shell like ssh: it gets the command
#                         as one quoted string)
#   --fetch "CMD"         host mode: copies file {path} of client i to {dest}
#                         (default `scp -q -o BatchMode=yes {host}:{path} {dest}`)
#   --server-addr HOST    host mode: the server's address for the clients
#   --remote-loadgen PATH host mode: the load generator on the hosts
#                         (default ringside-loadgen)
#   --remote-dir DIR      host mode: where the clients write (default /tmp)
#   --backend NAME        server design (default epoll)
#   --protocol P          echo, rr or http (default http)
#   --server-cores LIST   CPUs of the server (default 0; "" for none)
#   --client-cores LIST   CPUs of each load generator (default 1 with
#                         namespaces, none on hosts; "" for none)
#   --server-args "ARGS"  more ringside-server flags
#   --port N              the server's port (default 7878; counters on N+1)
#   --start-in SECONDS    start this long after launching (default 3)
#   --out DIR             output directory (default multi-client-<tag>)
#   --bin-dir DIR         ringside-server, -loadgen, -results here (default
#                         target/release; `cargo build --release`)
#   --name PREFIX         namespace prefix (default rs<PID>)
# RUN-FLAGS go to every `ringside-loadgen run` (e.g. -c 50 -d 10s); --run-id
# among them names the run (default the tag, multi-<UTC time>-<PID>);
# --target, --stats, --protocol, --cores, --start-at, --csv and --hlog are
# set here.
#
# Examples:
#   sudo scripts/multi-client.sh --clients 2 -- -c 8 -d 3s --warmup 500ms
#   scripts/multi-client.sh --hosts load1,load2 --server-addr 10.0.0.5 \
#       --server-cores 0-3 -- -c 100 -d 30s --run-id "build 42"
set -euo pipefail
me=multi-client
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/netns-lib.sh
source "$root/scripts/netns-lib.sh"

clients=2 hosts="" ssh_config="" launcher="" fetch="" srv_host="" remote_loadgen=ringside-loadgen
remote_dir=/tmp backend=epoll protocol=http server_cores=0 client_cores=unset server_args="" port=7878
start_in=3 out="" bin_dir=$root/target/release name=rs$$
while [[ $# -gt 0 ]]; do
    case $1 in
        --clients) clients=$2; shift 2 ;;
        --hosts) hosts=$2; shift 2 ;;
        --ssh-config) ssh_config=$2; shift 2 ;;
        --launcher) launcher=$2; shift 2 ;;
        --fetch) fetch=$2; shift 2 ;;
        --server-addr) srv_host=$2; shift 2 ;;
        --remote-loadgen) remote_loadgen=$2; shift 2 ;;
        --remote-dir) remote_dir=$2; shift 2 ;;
        --backend) backend=$2; shift 2 ;;
        --protocol) protocol=$2; shift 2 ;;
        --server-cores) server_cores=$2; shift 2 ;;
        --client-cores) client_cores=$2; shift 2 ;;
        --server-args) server_args=$2; shift 2 ;;
        --port) port=$2; shift 2 ;;
        --start-in) start_in=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --bin-dir) bin_dir=$2; shift 2 ;;
        --name) name=$2; shift 2 ;;
        --) shift; break ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help; load generator flags go after --)" ;;
    esac
done
# --run-id among the run flags names the run; the rest go through as given.
tag=multi-$(date -u +%Y%m%dT%H%M%SZ)-$$
run_id=$tag run_flags=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --run-id) [[ $# -ge 2 ]] || die "--run-id needs a value"; run_id=$2; shift 2 ;;
        --run-id=*) run_id=${1#--run-id=}; shift ;;
        *) run_flags+=("$1"); shift ;;
    esac
done

server=$bin_dir/ringside-server loadgen=$bin_dir/ringside-loadgen results=$bin_dir/ringside-results
# The launcher and fetch commands as words; {placeholders} are filled in
# each word (fill), so a value with spaces stays one word.
if [[ -n $hosts ]]; then
    IFS=, read -ra host_list <<<"$hosts"
    clients=${#host_list[@]}
    [[ $clients -ge 1 ]] || die "--hosts names no host"
    [[ -n $srv_host ]] || die "--hosts needs --server-addr (this host's address as the clients reach it)"
    ssh_opts=(-o BatchMode=yes)
    [[ -z $ssh_config ]] || ssh_opts=(-F "$ssh_config" "${ssh_opts[@]}")
    if [[ -n $launcher ]]; then read -ra launch_words <<<"$launcher"; else launch_words=(ssh "${ssh_opts[@]}" '{host}'); fi
    if [[ -n $fetch ]]; then read -ra fetch_words <<<"$fetch"; else fetch_words=(scp -q "${ssh_opts[@]}" '{host}:{path}' '{dest}'); fi
    [[ $client_cores != unset ]] || client_cores=""
    needed=("$server" "$results")
else
    [[ $clients =~ ^[1-9][0-9]?$ ]] || die "--clients must be 1 to 99, not $clients"
    if [[ -n $launcher ]]; then read -ra launch_words <<<"$launcher"; else launch_words=(ip netns exec '{ns}'); fi
    [[ $client_cores != unset ]] || client_cores=1
    needed=("$server" "$loadgen" "$results")
    need_netns
fi
for b in "${needed[@]}"; do
    [[ -x $b ]] || die "$b is missing: build it (cargo build --release) or give --bin-dir"
done
[[ $start_in =~ ^[0-9]+$ ]] || die "--start-in takes whole seconds, not $start_in"

out=${out:-multi-client-$tag}
mkdir -p "$out"
out=$(cd "$out" && pwd)
tmp=$(mktemp -d)
cleanup_first=stop_sessions
netns_trap

# fill WORDS...: the words with {ns}, {host}, {i}, {path} and {dest} replaced
# by the variables of those names, into the array `filled`.
fill() {
    local w
    filled=()
    for w; do
        w=${w//\{ns\}/"${ns:-}"}
        w=${w//\{host\}/"${host:-}"}
        w=${w//\{i\}/"${i:-}"}
        w=${w//\{path\}/"${path:-}"}
        filled+=("${w//\{dest\}/"${dest:-}"}")
    done
}

# sh_quote WORDS...: one string the far side's shell splits back into exactly
# these words (ssh joins its arguments with spaces and hands the line to the
# remote user's shell): each in single quotes, a ' inside written '\''.
sh_quote() {
    local w
    quoted=""
    for w; do quoted+=" '${w//\'/\'\\\'\'}'"; done
    quoted=${quoted# }
}

# What each host runs, as `sh -c "$stop_on_eof" sh LOADGEN ARGS...`: the load
# generator in the background, and a watcher that reads the session's input
# and sends the load generator SIGTERM when it ends. ssh alone would leave a
# command without a terminal running after its client is gone; this way the
# input ends (EOF) when this script closes it or dies, or its ssh client
# dies, and the load generator stops with it. After a normal end the
# watcher is stopped first, so it signals no one.
# shellcheck disable=SC2016 # expanded by the remote sh
stop_on_eof='exec 3<&0 </dev/null
"$@" 3<&- &
p=$!
{ cat <&3; kill -TERM "$p"; } >/dev/null 2>&1 &
w=$!
exec 3<&-
wait "$p"
s=$?
kill "$w" 2>/dev/null
exit "$s"'

# Host mode: the session input, a FIFO this script holds open (read-write,
# so no open blocks) and every ssh reads; closing it is the stop signal.
hold="" client_pids=()
# Run first by the cleanup: close the sessions' input, so every remote load
# generator stops, and wait for the ssh clients, which end once their load
# generator has; after 10 s they are stopped (SIGTERM) instead.
stop_sessions() {
    [[ -n $hold ]] || return 0
    exec {hold}>&-
    hold=""
    [[ ${#client_pids[@]} -gt 0 ]] || return 0
    (
        trap 'kill "$nap" 2>/dev/null; exit 0' TERM
        sleep 10 & nap=$!
        wait "$nap" && echo "$me: the ssh sessions did not end in 10 s; stopping them" >&2
        kill -TERM "${client_pids[@]}" 2>/dev/null
    ) &
    local watchdog=$! p
    for p in "${client_pids[@]}"; do wait "$p" 2>/dev/null || true; done
    kill "$watchdog" 2>/dev/null || true
    wait "$watchdog" 2>/dev/null || true
}

rdir=$remote_dir/ringside-$tag
if [[ -n $hosts ]]; then
    # Every host once, before the server or any load starts.
    for i in $(seq "$clients"); do
        host=${host_list[$((i - 1))]}
        fill "${launch_words[@]}"
        # shellcheck disable=SC2016 # expanded by the remote sh
        sh_quote sh -c 'mkdir -p -- "$1" && exec "$2" --version' sh "$rdir" "$remote_loadgen"
        status=0
        said=$("${filled[@]}" "$quoted" </dev/null 2>&1) || status=$?
        if [[ $status -eq 255 ]]; then
            die "host $host (client $i) cannot be reached; nothing started: ${filled[*]}: $said"
        elif [[ $status -ne 0 ]]; then
            die "host $host (client $i) cannot make $rdir or run $remote_loadgen; nothing started: $said"
        fi
        echo "$me: client $i on $host: $said"
    done
    server_cmd=("$server")
else
    make_ns "$name-srv"
    for i in $(seq "$clients"); do
        make_ns "$name-c$i"
        link_ns "$name-srv" "10.79.$i.1" "$name-c$i" "10.79.$i.2" "${name:0:9}s$i" "${name:0:9}c$i"
    done
    server_cmd=(ip netns exec "$name-srv" "$server")
fi
server_pin=()
[[ -z $server_cores ]] || server_pin=(--cores "$server_cores")
# shellcheck disable=SC2086 # server_args is a list of flags
start_netns_server "$tmp/server.err" "${server_cmd[@]}" --backend "$backend" --protocol "$protocol" \
    "${server_pin[@]}" --listen "0.0.0.0:$port" --stats-listen "0.0.0.0:$((port + 1))" $server_args

if [[ -n $hosts ]]; then
    # Opened after the server started, so that only this script holds it.
    mkfifo -m 600 "$tmp/session-input"
    exec {hold}<>"$tmp/session-input"
fi
# Unix seconds to the millisecond: whole seconds would cut up to a second
# off --start-in, the time every client has to connect and get ready.
start_ms=$(($(date +%s%N) / 1000000 + start_in * 1000))
start=$((start_ms / 1000)).$(printf %03d $((start_ms % 1000)))
echo "$me: run $run_id: $clients load generators against $backend, starting at $(date -u -d "@$start" +%H:%M:%S.%3NZ)"
for i in $(seq "$clients"); do
    ns=$name-c$i host=${host_list[$((i - 1))]:-}
    fill "${launch_words[@]}"
    cores=()
    [[ -z $client_cores ]] || cores=(--cores "$client_cores")
    if [[ -z $hosts ]]; then
        addr=10.79.$i.1 dir=$out bin=$loadgen
    else
        addr=$srv_host dir=$rdir bin=$remote_loadgen
    fi
    cmd=("$bin" run --target "$addr:$port" --stats "$addr:$((port + 1))" --protocol "$protocol"
        "${cores[@]}" --start-at "$start" --run-id "$run_id"
        --csv "$dir/client-$i.csv" --hlog "$dir/client-$i.hlog" "${run_flags[@]}")
    if [[ -z $hosts ]]; then
        "${filled[@]}" "${cmd[@]}" >"$out/client-$i.log" 2>&1 &
        pids+=($!)
    else
        sh_quote sh -c "$stop_on_eof" sh "${cmd[@]}"
        "${filled[@]}" "$quoted" <"$tmp/session-input" {hold}>&- >"$out/client-$i.log" 2>&1 &
    fi
    client_pids+=($!)
done
failed=0
for i in $(seq "$clients"); do
    if ! wait "${client_pids[$((i - 1))]}"; then
        echo "$me: load generator $i failed; its output ($out/client-$i.log):" >&2
        cat "$out/client-$i.log" >&2
        failed=1
    fi
done
client_pids=()
[[ $failed -eq 0 ]] || exit 1

if [[ -n $hosts ]]; then
    for i in $(seq "$clients"); do
        host=${host_list[$((i - 1))]}
        for f in "client-$i.csv" "client-$i.hlog"; do
            path=$rdir/$f dest=$out/$f
            fill "${fetch_words[@]}"
            "${filled[@]}" </dev/null || die "cannot fetch $f from client $i ($host): ${filled[*]}"
        done
    done
fi

csvs=()
for i in $(seq "$clients"); do csvs+=("$out/client-$i.csv"); done
"$results" merge --out "$out/merged.csv" --hlog-out "$out/merged.hlog" --hgrm-out "$out/merged.hgrm" "${csvs[@]}"
echo "$me: files in $out (client-<i>.csv/.hlog/.log, merged.csv/.hlog/.hgrm)"
