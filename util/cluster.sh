#!/usr/bin/env bash
# The services of a local cluster (README "Local cluster"): a Redis primary,
# one replica, three sentinels and two private dockerds, each on its unix
# socket and on a loopback TCP port with TLS client certificates.  Used by
# `make run-cluster` (util/run-cluster.sh) and `make test-cluster`.
#
#   util/cluster.sh start         start everything (idempotent), write env
#   util/cluster.sh stop          stop everything it started; idempotent
#   util/cluster.sh status        exit 0 when everything is up
#   util/cluster.sh env           print the path of cluster.env
#   util/cluster.sh kill-primary  SIGKILL the Redis instance the sentinels
#                                 name as primary (a failover test)
#   util/cluster.sh revive        start again every Redis instance that is
#                                 down, as a replica of the primary every
#                                 sentinel names
#
# Runtime dir ($RT): /tmp/psb-<uid>-<8 hex of sha256(repo path)>-<instance>
# (PSB_INSTANCE, default "cluster"); the dockerds are util/services.sh
# instances below it ($RT/d1, $RT/d2).  Knobs: PSB_CLUSTER_PORT (first port
# to try, default 17400), PSB_DOWN_AFTER_MS (sentinel down-after, default
# 1000), PSB_FAILOVER_TIMEOUT_MS (default 3000).
#
#   $RT/cluster.env     `export` lines (CLUSTER_* and TEST_NGINX_*)
#   $RT/tls/            ca.pem, server-*.pem (dockerd), client-*.pem (nginx)
#   $RT/redis-password, $RT/sentinel-password   mode 0600, made by openssl
#   $RT/r<port>/        one Redis or sentinel: its .conf, log, pid, data
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
UID_=$(id -u)
HASH=$(printf '%s' "$ROOT" | sha256sum | cut -c1-8)
INSTANCE=${PSB_INSTANCE:-cluster}
RT=/tmp/psb-$UID_-$HASH-$INSTANCE
ENVLINK=$ROOT/build/$INSTANCE.env
PORT_BASE=${PSB_CLUSTER_PORT:-17400}
MASTER=psbmaster
DOWN_AFTER=${PSB_DOWN_AFTER_MS:-1000}
FAILOVER_TIMEOUT=${PSB_FAILOVER_TIMEOUT_MS:-3000}

log()  { echo "cluster: $*" >&2; }
die()  { echo "cluster: error: $*" >&2; exit 1; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# PORT = next free port at or after $1 that is not taken yet
free_port() {
    local p=$1
    while port_in_use "$p" || [[ " $TAKEN " == *" $p "* ]]; do
        p=$((p + 1))
        [ "$p" -lt $((PORT_BASE + 500)) ] || die "no free port from $PORT_BASE"
    done
    TAKEN="$TAKEN $p"
    PORT=$p
}

rcli() {   # rcli <port> <password file> args...
    local port=$1 pw=$2; shift 2
    REDISCLI_AUTH=$(cat "$pw") timeout 3 redis-cli -h 127.0.0.1 -p "$port" "$@"
}

services() {   # services <d1|d2> <util/services.sh args...>
    local d=$1; shift
    PSB_RUNTIME=$RT/$d PSB_INSTANCE=$INSTANCE-$d PSB_NO_REDIS=1 \
        PSB_DOCKERD_ARGS=$(dockerd_args "$d") "$ROOT/util/services.sh" "$@"
}

dockerd_args() {
    printf '%s' "--tlsverify --tlscacert=$RT/tls/ca.pem" \
        " --tlscert=$RT/tls/server-cert.pem --tlskey=$RT/tls/server-key.pem" \
        " --host=tcp://127.0.0.1:$(cat "$RT/$1-tls.port")"
}

# ----------------------------------------------------------------- TLS
make_tls() {
    local t=$RT/tls
    mkdir -p "$t"
    chmod 0700 "$t"
    (
        cd "$t"
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=psb-test-ca \
            -keyout ca-key.pem -out ca.pem 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
            -keyout server-key.pem -out server.csr 2>/dev/null
        printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
            'extendedKeyUsage=serverAuth' > server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem \
            -CAcreateserial -days 2 -extfile server.ext \
            -out server-cert.pem 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj /CN=psb-bridge \
            -keyout client-key.pem -out client.csr 2>/dev/null
        echo 'extendedKeyUsage=clientAuth' > client.ext
        openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem \
            -CAcreateserial -days 2 -extfile client.ext \
            -out client-cert.pem 2>/dev/null
        rm -f ./*.csr ./*.ext ca.srl
        chmod 0600 ./*-key.pem
        # nginx workers may run as another user than the master
        chmod 0644 client-key.pem
    )
}

# ----------------------------------------------------------------- redis
redis_conf() {   # redis_conf <port> <role: primary|replica|sentinel> <primary port>
    local port=$1 role=$2 pport=$3 d=$RT/r$1 pw sp
    pw=$(cat "$RT/redis-password")
    sp=$(cat "$RT/sentinel-password")
    mkdir -p "$d"
    chmod 0700 "$d"
    {
        echo "bind 127.0.0.1"
        echo "port $port"
        echo "daemonize yes"
        echo "pidfile $d/pid"
        echo "logfile $d/log"
        echo "dir $d"
        case "$role" in
            sentinel)
                echo "requirepass $sp"
                echo "sentinel monitor $MASTER 127.0.0.1 $pport 2"
                echo "sentinel auth-pass $MASTER $pw"
                echo "sentinel down-after-milliseconds $MASTER $DOWN_AFTER"
                echo "sentinel failover-timeout $MASTER $FAILOVER_TIMEOUT"
                echo "sentinel parallel-syncs $MASTER 1" ;;
            *)
                echo "requirepass $pw"
                echo "masterauth $pw"
                echo "save \"\""
                echo "appendonly no"
                echo "repl-diskless-sync-delay 0"
                [ "$role" = primary ] || echo "replicaof 127.0.0.1 $pport" ;;
        esac
    } > "$d/conf"
    chmod 0600 "$d/conf"
}

redis_start() {   # redis_start <port> [<primary port to replicate>]
    local port=$1 d=$RT/r$1 args=()
    grep -q '^sentinel monitor' "$d/conf" && args=(--sentinel)
    [ -n "${2:-}" ] && args=(--replicaof 127.0.0.1 "$2")
    rm -f "$d/pid"
    redis-server "$d/conf" "${args[@]}" </dev/null >/dev/null 2>&1 9>&-
    for _ in $(seq 1 100); do
        [ -s "$d/pid" ] && kill -0 "$(cat "$d/pid")" 2>/dev/null \
            && port_in_use "$port" && return 0
        sleep 0.1
    done
    tail -n 20 "$d/log" >&2 || true
    die "redis on port $port did not start (log $d/log)"
}

redis_pid_of() {   # pid of the Redis/sentinel on a port, if it runs
    local f=$RT/r$1/pid p
    [ -s "$f" ] || return 1
    p=$(tr -dc 0-9 < "$f")
    kill -0 "$p" 2>/dev/null && tr '\0' ' ' < "/proc/$p/cmdline" \
        | grep -q redis-server && echo "$p"
}

redis_stop() {   # redis_stop <port>
    local p
    p=$(redis_pid_of "$1") || return 0
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
}

agreed_primary() {   # the primary every sentinel names, if they agree
    local s p all=
    for s in $(cat "$RT/sentinel.ports"); do
        p=$(rcli "$s" "$RT/sentinel-password" --no-auth-warning \
                SENTINEL get-master-addr-by-name "$MASTER" 2>/dev/null \
                | sed -n 2p | grep -E '^[0-9]+$') || return 1
        [ -z "$all" ] || [ "$all" = "$p" ] || return 1
        all=$p
    done
    [ -n "$all" ] && echo "$all"
}

primary_port() {   # the port the sentinels name as primary
    local s
    for s in $(cat "$RT/sentinel.ports"); do
        rcli "$s" "$RT/sentinel-password" --no-auth-warning \
            SENTINEL get-master-addr-by-name "$MASTER" 2>/dev/null \
            | sed -n 2p | grep -E '^[0-9]+$' && return 0
    done
    return 1
}

# ----------------------------------------------------------------- commands
write_env() {
    local tmp=$RT/cluster.env.tmp s list=
    for s in $(cat "$RT/sentinel.ports"); do list=$list${list:+,}127.0.0.1:$s; done
    {
        echo "# written by util/cluster.sh start; source it"
        printf 'export CLUSTER_RUNTIME=%q\n' "$RT"
        printf 'export CLUSTER_SENTINELS=%q\n' "$list"
        printf 'export CLUSTER_MASTER=%q\n' "$MASTER"
        printf 'export CLUSTER_REDIS_PORTS=%q\n' "$(cat "$RT/redis.ports")"
        printf 'export CLUSTER_REDIS_PASSWORD_FILE=%q\n' "$RT/redis-password"
        printf 'export CLUSTER_SENTINEL_PASSWORD_FILE=%q\n' "$RT/sentinel-password"
        printf 'export CLUSTER_DOCKER1_SOCKET=%q\n' "$RT/d1/docker.sock"
        printf 'export CLUSTER_DOCKER2_SOCKET=%q\n' "$RT/d2/docker.sock"
        printf 'export CLUSTER_DOCKER1_TLS=%q\n' "127.0.0.1:$(cat "$RT/d1-tls.port")"
        printf 'export CLUSTER_DOCKER2_TLS=%q\n' "127.0.0.1:$(cat "$RT/d2-tls.port")"
        printf 'export CLUSTER_TLS_DIR=%q\n' "$RT/tls"
        printf 'export TEST_NGINX_SANDBOX_IMAGE=%q\n' "psb-sandbox:local"
    } > "$tmp"
    mv "$tmp" "$RT/cluster.env"
    mkdir -p "$ROOT/build"
    ln -sfn "$RT/cluster.env" "$ENVLINK"
}

healthy() {
    local p
    [ -f "$RT/cluster.env" ] || return 1
    for p in $(cat "$RT/redis.ports" "$RT/sentinel.ports"); do
        redis_pid_of "$p" >/dev/null || return 1
    done
    services d1 status -q && services d2 status -q
}

do_stop() {
    local p
    [ -d "$RT" ] || return 0
    for d in d1 d2; do
        [ -d "$RT/$d" ] && { services "$d" stop 2>&1 | sed 's/^/  /' >&2 || true; }
    done
    for p in $(cat "$RT/sentinel.ports" "$RT/redis.ports" 2>/dev/null); do
        redis_stop "$p"
    done
    rm -rf "$RT"
    if [ -L "$ENVLINK" ] && [ "$(readlink "$ENVLINK")" = "$RT/cluster.env" ]; then
        rm -f "$ENVLINK"
    fi
    log "stopped; removed $RT"
}

do_start() {
    local t0=$SECONDS p pp rp s
    command -v redis-server >/dev/null || die "redis-server missing (make deps)"
    if healthy; then
        write_env
        log "already running ($RT)"
        return 0
    fi
    do_stop
    mkdir -p "$RT"
    chmod 0755 "$RT"
    trap 'rc=$?; if [ $rc -ne 0 ]; then log "start failed; cleaning up"; do_stop || true; fi' EXIT

    umask 077
    openssl rand -hex 24 > "$RT/redis-password"
    openssl rand -hex 24 > "$RT/sentinel-password"
    umask 022
    TAKEN=
    free_port "$PORT_BASE"; pp=$PORT
    free_port $((pp + 1)); rp=$PORT
    echo "$pp $rp" > "$RT/redis.ports"
    : > "$RT/sentinel.ports"
    for _ in 1 2 3; do
        free_port $((rp + 1))
        echo -n "$PORT " >> "$RT/sentinel.ports"
    done
    free_port $((pp + 10)); echo "$PORT" > "$RT/d1-tls.port"
    free_port $((PORT + 1)); echo "$PORT" > "$RT/d2-tls.port"

    redis_conf "$pp" primary "$pp"
    redis_conf "$rp" replica "$pp"
    redis_start "$pp"
    redis_start "$rp"
    for s in $(cat "$RT/sentinel.ports"); do
        redis_conf "$s" sentinel "$pp"
        redis_start "$s"
    done
    log "redis primary 127.0.0.1:$pp, replica 127.0.0.1:$rp," \
        "sentinels $(cat "$RT/sentinel.ports")(master $MASTER)"

    make_tls
    services d1 start 2>&1 | sed 's/^/  /' >&2
    services d2 start 2>&1 | sed 's/^/  /' >&2

    # the replica in sync and every sentinel aware of it before we say "up"
    for _ in $(seq 1 300); do
        p=$(rcli "$pp" "$RT/redis-password" --no-auth-warning INFO replication \
            | tr -d '\r' | grep -c '^slave0:.*state=online' || true)
        [ "$p" = 1 ] && break
        sleep 0.1
    done
    if [ "$p" != 1 ]; then
        tail -n 20 "$RT/r$pp/log" "$RT/r$rp/log" >&2 || true
        die "the replica did not sync with the primary"
    fi
    for s in $(cat "$RT/sentinel.ports"); do
        for _ in $(seq 1 300); do
            rcli "$s" "$RT/sentinel-password" --no-auth-warning \
                SENTINEL replicas "$MASTER" 2>/dev/null | grep -qx "$rp" && break
            sleep 0.1
        done
    done

    write_env
    trap - EXIT
    log "up in $((SECONDS - t0))s; env: $ENVLINK -> $RT/cluster.env"
}

exec 9>"$RT.lock"
flock -w 180 9 || die "timed out waiting for $RT.lock"

case "${1:-}" in
    start)  do_start ;;
    stop)   do_stop; rm -f "$RT.lock" ;;
    status) if [ -d "$RT" ] && healthy; then log "running: $RT"; exit 0; fi
            log "not running ($RT)"; exit 1 ;;
    env)    echo "$RT/cluster.env" ;;
    kill-primary)
        p=$(primary_port) || die "no sentinel names a primary"
        pid=$(redis_pid_of "$p") || die "the primary on port $p is not running"
        kill -KILL "$pid"
        log "SIGKILLed the primary 127.0.0.1:$p (pid $pid)"
        echo "$p" ;;
    revive)
        # as an operator would: once every sentinel names the new primary,
        # a lost instance comes back as its replica (never as an empty
        # primary a lagging sentinel could still believe in)
        np=
        for _ in $(seq 1 100); do
            np=$(agreed_primary) && break
            sleep 0.1
        done
        [ -n "$np" ] || die "the sentinels do not agree on a primary"
        for p in $(cat "$RT/redis.ports"); do
            redis_pid_of "$p" >/dev/null && continue
            if [ "$p" = "$np" ]; then
                redis_start "$p"
            else
                redis_start "$p" "$np"
            fi
            log "restarted redis 127.0.0.1:$p${np:+ (primary 127.0.0.1:$np)}"
        done ;;
    *)  sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
