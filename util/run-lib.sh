# Shell functions shared by util/run.sh, util/run-cluster.sh and
# util/test.sh (sourced, not run). Each script keeps its own traps and
# cleanup; these are the pieces they share.

# psb_port_free <port>: nothing listens on 127.0.0.1:<port>
psb_port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# psb_watch_parent: if our parent dies (`make` got SIGTERM, which GNU make
# does not forward to its recipe), SIGTERM ourselves so that the caller's
# cleanup runs. psb_unwatch_parent stops the watcher.
psb_watcher_pid=
psb_watch_parent() {
    local parent=$PPID self=$$
    (
        trap - EXIT INT TERM
        local _p _c _s ppid
        while read -r _p _c _s ppid _ 2>/dev/null < "/proc/$self/stat" \
              && [ "$ppid" = "$parent" ]; do
            sleep 1
        done
        kill -TERM "$self" 2>/dev/null
    ) </dev/null >/dev/null 2>&1 &
    psb_watcher_pid=$!
}
psb_unwatch_parent() {
    [ -n "$psb_watcher_pid" ] || return 0
    pkill -P "$psb_watcher_pid" 2>/dev/null || true
    kill "$psb_watcher_pid" 2>/dev/null || true
    wait "$psb_watcher_pid" 2>/dev/null || true
    psb_watcher_pid=
}

# psb_stop_nginx <master pid>: graceful, then fast, then KILL (the master
# and its workers)
psb_stop_nginx() {
    local pid=$1
    kill -0 "$pid" 2>/dev/null || return 0
    kill -QUIT "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    if kill -0 "$pid" 2>/dev/null; then
        pkill -KILL -P "$pid" 2>/dev/null || true
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# psb_token_file <file>: BRIDGE_AUTH_TOKEN, or a new random token, into
# <file> (mode 0600); the token is left in $token
psb_token_file() {
    token=${BRIDGE_AUTH_TOKEN:-$(openssl rand -hex 32)}
    (umask 077 && printf '%s\n' "$token" > "$1")
    chmod 0600 "$1"
}
