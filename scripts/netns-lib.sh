# Shared by scripts/netns.sh and scripts/multi-client.sh (sourced, not run):
# network namespaces joined by veth pairs, a server started in one and
# waited for, and a cleanup that removes everything made, whatever happens.
#
# The caller sets `me` (its name, for messages) and `tmp` (a scratch
# directory), and calls `netns_trap` before making anything.

# shellcheck source=scripts/server-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/server-lib.sh"

made_ns=()        # namespaces to delete
pids=()           # processes to stop (the server)
cleanup_first=""  # a function the caller's cleanup needs run before the rest

die() { echo "$me: $*" >&2; exit 2; }

# Root and iproute2 with namespace support, or a clear error.
need_netns() {
    [[ $EUID -eq 0 ]] || die "network namespaces need root: run it with sudo (or as root)"
    command -v ip >/dev/null || die "needs \`ip\` from iproute2 (apt-get install iproute2)"
    ip netns list >/dev/null 2>&1 || die "\`ip netns\` does not work here (a container without CAP_SYS_ADMIN?)"
}

# Run cleanup_first, if set; stop what was started, delete the namespaces
# (which deletes their veth ends) and the scratch directory. Runs on every
# exit; idempotent.
netns_cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local p ns
    [[ -z $cleanup_first ]] || "$cleanup_first" || true
    for p in "${pids[@]}"; do
        kill -INT "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    for ns in "${made_ns[@]}"; do
        # Anything still running inside (a load generator left by Ctrl-C).
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
        ip netns delete "$ns" 2>/dev/null || echo "$me: could not delete namespace $ns: ip netns delete $ns" >&2
    done
    [[ -n ${tmp:-} ]] && rm -rf "$tmp"
    exit "$status"
}

netns_trap() {
    trap netns_cleanup EXIT
    trap 'echo "$me: interrupted; cleaning up" >&2; exit 130' INT TERM
}

# make_ns NAME: a namespace with loopback up.
make_ns() {
    ip netns add "$1" || die "cannot create namespace $1 (does it exist already? ip netns list)"
    made_ns+=("$1")
    ip -n "$1" link set lo up
}

# link_ns NS_A ADDR_A NS_B ADDR_B IFNAME_A IFNAME_B: a veth pair between two
# namespaces, each end with its address (a /30) and up. Interface names are
# at most 15 characters.
link_ns() {
    local a=$1 addr_a=$2 b=$3 addr_b=$4 if_a=$5 if_b=$6
    ip link add "$if_a" netns "$a" type veth peer name "$if_b" netns "$b" \
        || die "cannot create the veth pair $if_a/$if_b"
    ip -n "$a" addr add "$addr_a/30" dev "$if_a"
    ip -n "$b" addr add "$addr_b/30" dev "$if_b"
    ip -n "$a" link set "$if_a" up
    ip -n "$b" link set "$if_b" up
}

# start_netns_server ERRFILE CMD...: start the server (CMD, e.g. `ip netns
# exec NS ringside-server ...`) and wait for its `listening on` line, blocking
# on a read of its stdout (server-lib.sh); it is stopped by the cleanup.
start_netns_server() {
    start_server "$@" || exit 1
    pids+=("$server_pid")
}
