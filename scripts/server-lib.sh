# Starting a server that announces itself, for the scripts that start one
# (sourced, not run). ringside-server prints `stats on ADDR` (with
# --stats-listen) and then `listening on ADDR` once it accepts; a script
# waits for that line by blocking on a read of the server's stdout through a
# FIFO, with a timeout: never by sleeping in a loop.
#
# The caller sets `me` (its name, for messages).

# start_server ERRFILE CMD...: run CMD in the background, its stdout into a
# FIFO held open here, its stderr into ERRFILE, and return once it printed
# `listening on`. Sets server_pid (CMD's pid: a command that execs, as
# taskset and `ip netns exec` do, keeps it), server_addr, server_stats (its
# `stats on` address, or empty) and server_fd (the FIFO's read end, for
# stop_server). Fails with the server's stderr if it exits, or prints no line
# for SERVER_WAIT seconds (default 20).
start_server() {
    local err=$1 fifo line
    shift
    fifo=$(mktemp -u "${TMPDIR:-/tmp}/ringside-server.XXXXXX")
    mkfifo -m 600 "$fifo"
    "$@" >"$fifo" 2>"$err" &
    server_pid=$!
    # Blocks until the server's side has opened it too; then the name can go.
    exec {server_fd}<"$fifo"
    rm -f "$fifo"
    server_addr="" server_stats=""
    while IFS= read -r -t "${SERVER_WAIT:-20}" -u "$server_fd" line; do
        case $line in
            "stats on "*) server_stats=${line#stats on } ;;
            "listening on "*) server_addr=${line#listening on }; return 0 ;;
        esac
    done
    echo "$me: the server did not start ($*):" >&2
    cat "$err" >&2
    return 1
}

# stop_server: SIGTERM, wait for it (its status in server_status), then close
# the FIFO (after its `stopped:` line, which the pipe's buffer holds).
stop_server() {
    server_status=0
    if [[ -n ${server_pid:-} ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" || server_status=$?
    fi
    server_pid=""
    if [[ -n ${server_fd:-} ]]; then exec {server_fd}<&-; fi
    server_fd=""
}
