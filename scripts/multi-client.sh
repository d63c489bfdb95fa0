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
#   hosts (--hosts H1,H2,...): the server runs here, outside any namespace,
#       listening on 0.0.0.0; client i runs on host Hi through `ssh Hi`
#       (ringside-loadgen on its PATH, or --remote-loadgen), writes its files
#       under --remote-dir and they are copied back with scp. Give
#       --server-addr (this host's address as the clients reach it); the
#       hosts' clocks must be synchronised (NTP). No root needed.
#
# Options:
#   --clients N           load generators in namespace mode (default 2)
#   --hosts H1,H2,...     host mode, one load generator per host
#   --launcher "CMD"      prefix that runs a command on client i; {ns}, {host}
#                         and {i} are replaced (default `ip netns exec {ns}`,
#                         or `ssh {host}` in host mode)
#   --fetch "CMD"         host mode: copies file {path} of client i to {dest}
#                         (default `scp -q {host}:{path} {dest}`)
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
#   --out DIR             output directory (default multi-client-<run id>)
#   --bin-dir DIR         ringside-server, -loadgen, -results here (default
#                         target/release; `cargo build --release`)
#   --name PREFIX         namespace prefix (default rs<PID>)
# RUN-FLAGS go to every `ringside-loadgen run` (e.g. -c 50 -d 10s); --target,
# --stats, --protocol, --cores, --start-at, --run-id, --csv and --hlog are
# set here.
#
# Examples:
#   sudo scripts/multi-client.sh --clients 2 -- -c 8 -d 3s --warmup 500ms
#   scripts/multi-client.sh --hosts load1,load2 --server-addr 10.0.0.5 \
#       --server-cores 0-3 -- -c 100 -d 30s
set -euo pipefail
me=multi-client
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/netns-lib.sh
source "$root/scripts/netns-lib.sh"

clients=2 hosts="" launcher="" fetch="scp -q {host}:{path} {dest}" srv_host="" remote_loadgen=ringside-loadgen
remote_dir=/tmp backend=epoll protocol=http server_cores=0 client_cores=unset server_args="" port=7878
start_in=3 out="" bin_dir=$root/target/release name=rs$$
while [[ $# -gt 0 ]]; do
    case $1 in
        --clients) clients=$2; shift 2 ;;
        --hosts) hosts=$2; shift 2 ;;
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

server=$bin_dir/ringside-server loadgen=$bin_dir/ringside-loadgen results=$bin_dir/ringside-results
if [[ -n $hosts ]]; then
    IFS=, read -ra host_list <<<"$hosts"
    clients=${#host_list[@]}
    [[ -n $srv_host ]] || die "--hosts needs --server-addr (this host's address as the clients reach it)"
    [[ -n $launcher ]] || launcher="ssh {host}"
    [[ $client_cores != unset ]] || client_cores=""
    needed=("$server" "$results")
else
    [[ $clients =~ ^[1-9][0-9]?$ ]] || die "--clients must be 1 to 99, not $clients"
    [[ -n $launcher ]] || launcher="ip netns exec {ns}"
    [[ $client_cores != unset ]] || client_cores=1
    needed=("$server" "$loadgen" "$results")
    need_netns
fi
for b in "${needed[@]}"; do
    [[ -x $b ]] || die "$b is missing: build it (cargo build --release) or give --bin-dir"
done
[[ $start_in =~ ^[0-9]+$ ]] || die "--start-in takes whole seconds, not $start_in"

run_id=multi-$(date -u +%Y%m%dT%H%M%SZ)-$$
out=${out:-multi-client-$run_id}
mkdir -p "$out"
out=$(cd "$out" && pwd)
tmp=$(mktemp -d)
netns_trap

# The command that runs on client i, as an array.
launch() {
    local i=$1 ns=$name-c$1 host=${host_list[$(($1 - 1))]:-}
    local cmd=${launcher//\{ns\}/$ns}
    cmd=${cmd//\{host\}/$host}
    read -ra launch_cmd <<<"${cmd//\{i\}/$i}"
}

if [[ -z $hosts ]]; then
    make_ns "$name-srv"
    for i in $(seq "$clients"); do
        make_ns "$name-c$i"
        link_ns "$name-srv" "10.79.$i.1" "$name-c$i" "10.79.$i.2" "${name:0:9}s$i" "${name:0:9}c$i"
    done
    server_cmd=(ip netns exec "$name-srv" "$server")
else
    server_cmd=("$server")
fi
# shellcheck disable=SC2086 # server_args is a list of flags
server_pin=()
[[ -z $server_cores ]] || server_pin=(--cores "$server_cores")
start_netns_server "$tmp/server.err" "${server_cmd[@]}" --backend "$backend" --protocol "$protocol" \
    "${server_pin[@]}" --listen "0.0.0.0:$port" --stats-listen "0.0.0.0:$((port + 1))" $server_args

# Unix seconds to the millisecond: whole seconds would cut up to a second
# off --start-in, the time every client has to connect and get ready.
start_ms=$(($(date +%s%N) / 1000000 + start_in * 1000))
start=$((start_ms / 1000)).$(printf %03d $((start_ms % 1000)))
echo "$me: run $run_id: $clients load generators against $backend, starting at $(date -u -d "@$start" +%H:%M:%S.%3NZ)"
client_pids=()
for i in $(seq "$clients"); do
    launch "$i"
    if [[ -z $hosts ]]; then
        addr=10.79.$i.1 dir=$out bin=$loadgen
    else
        addr=$srv_host dir=$remote_dir/ringside-$run_id bin=$remote_loadgen
        "${launch_cmd[@]}" mkdir -p "$dir" || die "client $i: cannot create $dir through: ${launch_cmd[*]}"
    fi
    cores=()
    [[ -z $client_cores ]] || cores=(--cores "$client_cores")
    "${launch_cmd[@]}" "$bin" run --target "$addr:$port" --stats "$addr:$((port + 1))" --protocol "$protocol" \
        "${cores[@]}" --start-at "$start" --run-id "$run_id" \
        --csv "$dir/client-$i.csv" --hlog "$dir/client-$i.hlog" "$@" >"$out/client-$i.log" 2>&1 &
    client_pids+=($!)
    pids+=($!)
done
failed=0
for i in $(seq "$clients"); do
    if ! wait "${client_pids[$((i - 1))]}"; then
        echo "$me: load generator $i failed; its output ($out/client-$i.log):" >&2
        cat "$out/client-$i.log" >&2
        failed=1
    fi
done
[[ $failed -eq 0 ]] || exit 1

if [[ -n $hosts ]]; then
    for i in $(seq "$clients"); do
        for f in "client-$i.csv" "client-$i.hlog"; do
            cmd=${fetch//\{host\}/${host_list[$((i - 1))]}}
            cmd=${cmd//\{path\}/$remote_dir/ringside-$run_id/$f}
            read -ra fetch_cmd <<<"${cmd//\{dest\}/$out/$f}"
            "${fetch_cmd[@]}" || die "cannot fetch $f from client $i: ${fetch_cmd[*]}"
        done
    done
fi

csvs=()
for i in $(seq "$clients"); do csvs+=("$out/client-$i.csv"); done
"$results" merge --out "$out/merged.csv" --hlog-out "$out/merged.hlog" --hgrm-out "$out/merged.hgrm" "${csvs[@]}"
echo "$me: files in $out (client-<i>.csv/.hlog/.log, merged.csv/.hlog/.hgrm)"
