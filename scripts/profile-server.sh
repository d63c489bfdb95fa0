#!/usr/bin/env bash
# Where a server's CPU goes under load: starts one server pinned to the
# server CPU, drives it with ringside-loadgen (closed loop, pinned to the
# client CPU), and samples the server's CPU with `perf record -e cpu-clock`
# (a software clock: hardware counters are not needed) in the middle of the
# run. Prints the split between the server's own code, its libraries and
# the kernel; the same split by what it is for (own code, the kernel's I/O
# interface: syscalls, descriptor lookups, VFS, epoll, io_uring; and the
# TCP/IP work every design does alike); then the hottest symbols.
# perf.data stays in OUTDIR for `perf report -i`.
#
# Usage: scripts/profile-server.sh [-b BACKEND] [-p PROTOCOL] [-c CONNS] [-d SECS] [-n TOP]
#                                  [-o OUTDIR] [-s CPU] [-l CPU] [-g] [-- SERVER-FLAGS...]
#   -b BACKEND    ringside backend (default io-uring), or `c-epoll` / `c-tpc`
#                 for the C servers of scripts/reference/ (echo only)
#   -p PROTOCOL   echo (128-byte messages), rr or http (default echo)
#   -c CONNS      connections (default 50)
#   -d SECS       seconds sampled (default 4; the load runs 2 s longer)
#   -n TOP        symbols listed (default 25)
#   -o OUTDIR     where perf.data and the reports go (default:
#                 bench-results/profile-<backend>-<UTC time>); must not exist
#   -s CPU, -l CPU  server's and load generator's CPUs (default 0 and 1)
#   -g            record call graphs too (perf report -g then shows callers)
#   SERVER-FLAGS  passed to ringside-server (e.g. -- --no-multishot-recv)
# Needs: perf, taskset, python3, cc (for the C servers).
set -euo pipefail
cd "$(dirname "$0")/.."

backend=io-uring proto=echo conns=50 secs=4 top=25 out="" server_cpu=0 client_cpu=1 graph=()
while getopts "b:p:c:d:n:o:s:l:gh" opt; do
    case $opt in
        b) backend=$OPTARG ;; p) proto=$OPTARG ;; c) conns=$OPTARG ;; d) secs=$OPTARG ;; n) top=$OPTARG ;;
        o) out=$OPTARG ;; s) server_cpu=$OPTARG ;; l) client_cpu=$OPTARG ;; g) graph=(-g) ;;
        *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[[ $secs =~ ^[1-9][0-9]*$ ]] || { echo "profile-server: -d wants whole seconds, not '$secs'" >&2; exit 2; }
for tool in perf taskset python3; do
    command -v $tool >/dev/null || { echo "profile-server: $tool is needed (Debian: linux-perf)" >&2; exit 2; }
done
out=${out:-bench-results/profile-$backend-$(date -u +%Y%m%dT%H%M%SZ)}
[[ -e $out ]] && { echo "profile-server: $out exists; pick another -o" >&2; exit 2; }

cargo build --release --quiet --bin ringside-server --bin ringside-loadgen
case $backend in
    c-epoll | c-tpc)
        [[ $proto == echo ]] || { echo "profile-server: $backend serves echo only" >&2; exit 2; }
        mkdir -p target/reference
        src=scripts/reference/${backend#c-}_echo.c
        cc -O2 -g -Wall -Wextra -Werror -pthread -o "target/reference/${backend#c-}_echo" "$src"
        server=("target/reference/${backend#c-}_echo" 0 127.0.0.1) ;;
    *) server=(target/release/ringside-server --backend "$backend" --protocol "$proto" --listen 127.0.0.1:0
               --cores "$server_cpu" "$@") ;;
esac
mkdir -p "$out"

tmp=$(mktemp -d) pid=""
cleanup() {
    if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkfifo "$tmp/fifo"
taskset -c "$server_cpu" "${server[@]}" >"$tmp/fifo" 2>"$tmp/err" &
pid=$!
exec {fd}<"$tmp/fifo"
line=""
if ! read -r -t 20 -u "$fd" line || [[ $line != "listening on "* ]]; then
    echo "profile-server: the server did not start (first line: '$line'):" >&2
    cat "$tmp/err" >&2
    exit 1
fi
addr=${line#listening on }
load=(target/release/ringside-loadgen run -a "$addr" --protocol "$proto" -c "$conns" --cores "$client_cpu"
      --no-calibrate --timeout 10s -d "$((secs + 2))s" --warmup 0s --csv "$out/load.csv")
[[ $proto == echo ]] && load+=(--request-bytes 128)
"${load[@]}" >"$out/load.txt" 2>&1 &
load_pid=$!
sleep 1
perf record -q -e cpu-clock -F 4999 "${graph[@]}" -p "$pid" -o "$out/perf.data" -- sleep "$secs" 2>"$tmp/perf.err" \
    || { echo "profile-server: perf record failed:" >&2; cat "$tmp/perf.err" >&2; exit 1; }
wait "$load_pid" || { echo "profile-server: the load generator failed:" >&2; cat "$out/load.txt" >&2; exit 1; }
kill "$pid"; wait "$pid" || true; pid=""

perf report -i "$out/perf.data" --no-children --sort dso --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' \
    >"$out/by-dso.txt" || true
perf report -i "$out/perf.data" --no-children --sort dso,sym --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' \
    >"$out/by-symbol.txt" || true
echo "${server[*]} at $conns connections ($proto), $secs s sampled; $(grep -o 'Requests [0-9,]* in [^ ]*' "$out/load.txt" || true)"
echo "-- CPU by object (kernel = [kernel.kallsyms]):"
head -8 "$out/by-dso.txt"
echo "-- the same by what it is for:"
python3 - "$out/by-symbol.txt" <<'PY' | tee "$out/split.txt"
import re, sys
# The kernel's entry points, descriptor lookups, VFS, epoll and io_uring:
# what an I/O interface costs on top of the TCP/IP work itself. The rest of
# the kernel's share is TCP/IP, socket buffers, wake-ups and interrupts,
# which every design does alike for the same requests.
iface = re.compile(r"^(__)?(io_|epoll|ep_|do_epoll|x64_sys|do_sys|do_syscall|entry_SYSCALL|syscall_|ksys_|vfs_|"
                   r"rw_verify|fdget|fget|fput|sock_(read|write)_iter|sys_|import_|copy_msghdr|sock_recvmsg$|"
                   r"sock_sendmsg$|sock_sendmsg|exit_to_user|rseq|sock_poll|tcp_poll|"
                   r"do_writev|do_iter)")
share = {"own code and libraries": 0.0, "kernel: I/O interface (syscalls, fd lookup, VFS, epoll, io_uring)": 0.0,
         "kernel: TCP/IP, skbs, wake-ups, interrupts": 0.0}
keys = list(share)
for line in open(sys.argv[1]):
    m = re.match(r"\s*([\d.]+)%\s+\S+\s+\[(.)\]\s+(\S+)", line)
    if not m:
        continue
    pct, kind, sym = float(m.group(1)), m.group(2), m.group(3)
    share[keys[0] if kind == "." else keys[1] if iface.match(sym) else keys[2]] += pct
total = sum(share.values()) or 1
for k, v in share.items():
    print(f"  {100 * v / total:5.1f}%  {k}")
PY
echo "-- hottest $top symbols:"
head -n "$top" "$out/by-symbol.txt"
echo "(all of it: $out/by-symbol.txt; perf report -i $out/perf.data)"
