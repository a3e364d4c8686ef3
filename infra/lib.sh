# shellcheck shell=bash
# Process helpers shared by infra/kafka.sh and infra/redis.sh; sourced, not run.
#
# The sourcing script sets, before calling these:
#   NAME             prefix of every message ("kafka", "redis")
#   PID_FILE         where the pid of the process it started is kept
#   PROCESS_PATTERN  grep -E pattern that the process's command line must match, so
#                    that a pid reused by another program is not taken for ours

say() { echo "$NAME: $*"; }
die() { echo "$NAME: error: $*" >&2; exit 1; }

# True if the process exists and is not a zombie (PID 1 may reap late in containers).
alive() {
    local state
    state="$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null || true)"
    [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

# Prints the pid if the process this script started runs; removes a stale pid file.
running_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE" 2>/dev/null || true)"
    if [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" \
        && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qE "$PROCESS_PATTERN"; then
        echo "$pid"
        return 0
    fi
    rm -f "$PID_FILE"
    return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# await_ready SECONDS COMMAND...: runs COMMAND every half second until it succeeds (0),
# the started process is gone (1) or SECONDS pass (1). The pid file may appear a moment
# after the start, so its absence counts as death only once it was seen or after 5 s.
await_ready() {
    local deadline=$((SECONDS + $1)) t0=$SECONDS seen=0
    shift
    while ((SECONDS < deadline)); do
        if running_pid >/dev/null; then
            seen=1
            "$@" && return 0
        elif ((seen || SECONDS - t0 >= 5)); then
            return 1
        fi
        sleep 0.5
    done
    return 1
}

# stop_process PID: SIGTERM, up to 30 s for a clean exit, then SIGKILL; removes the pid file.
stop_process() {
    local pid=$1 i
    say "stopping (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 60; i++)); do
        alive "$pid" || break
        sleep 0.5
    done
    if alive "$pid"; then
        say "still running after 30 s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 20; i++)); do
            alive "$pid" || break
            sleep 0.25
        done
    fi
    rm -f "$PID_FILE"
    say "stopped"
}

# run_command COMMAND: the sourcing script's cmd_install, cmd_start, cmd_stop or cmd_status.
run_command() {
    case "${1:-}" in
        install | start | stop | status) "cmd_$1" ;;
        restart) cmd_stop && cmd_start ;;
        *)
            echo "usage: $0 {install|start|stop|status|restart}" >&2
            exit 2
            ;;
    esac
}
