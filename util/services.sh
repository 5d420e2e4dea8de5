#!/usr/bin/env bash
# Private backing services for tests and `make run`.
#
#   util/services.sh start     redis-server + dockerd (+ sandbox image), write env
#   util/services.sh stop      stop everything this runtime dir started; idempotent
#   util/services.sh status    exit 0 when everything is up (-q: quiet)
#   util/services.sh env       print the path of services.env
#   util/services.sh restart-dockerd   stop and start dockerd only (its
#                              containers live on: --live-restore);
#                              PSB_DOCKER_DOWN=<s> keeps it down that long
#   util/services.sh stop-dockerd / start-dockerd   the same in two steps
#   util/services.sh image     (re)build the sandbox image on the private dockerd
#
# Runtime dir ($RT): /tmp/psb-<uid>-<8 hex of sha256(repo path)>[-<PSB_INSTANCE>]
# (short on purpose: unix socket paths must stay < 108 bytes; the containerd
# socket lives at $RT/docker-exec/containerd/containerd.sock).  Override with
# PSB_RUNTIME=<dir>.  PSB_INSTANCE lets several sets coexist (make run uses
# "run", make test the default).
#
#   $RT/redis/          redis data (appendonly yes, default RDB saves)
#   $RT/redis.pid .port .log
#   $RT/docker.sock     private dockerd API     $RT/dockerd.log, docker.pid
#   $RT/docker-data/    --data-root             $RT/docker-exec/  --exec-root
#   $RT/services.env    `export` lines; build/services[-<instance>].env -> it
#
# Overrides (use existing services, start nothing for them):
#   BRIDGE_REDIS=host:port  BRIDGE_DOCKER_SOCKET=/path/docker.sock  BRIDGE_IMAGE=name:tag
# Knobs: PSB_REDIS_PORT (first port to try, default 16379),
#        PSB_DOCKER_START_TIMEOUT (s, default 60), PSB_DOCKER_STORAGE_DRIVER,
#        PSB_DOCKER_RUNTIME=runsc: register gVisor (util/runsc-wrapper,
#        copied to $RT/runsc-wrapper) as the dockerd runtime "runsc", for
#        `sandbox_runtime runsc;` (PSB_RUNTIME is the runtime *dir* above);
#        PSB_RUNSC_IGNORE_CGROUPS=1 adds runsc --ignore-cgroups (no limits);
#        PSB_SANDBOX=agent: the sandbox image is the agent image
#        psb-agent:local (util/sandbox-image.sh; the busybox one is built too);
#        PSB_ENGINE=podman: instead of dockerd, `podman system service` on
#        $RT/docker.sock (Docker-compatible API; README "Podman") with its
#        storage, run and lock files under $RT/podman/ and its own
#        containers.conf, so the system's podman is not touched;
#        PSB_NO_REDIS=1: dockerd only (util/cluster.sh runs its own Redis);
#        PSB_DOCKERD_ARGS: extra dockerd arguments (e.g. a TLS tcp:// host).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
UID_=$(id -u)
HASH=$(printf '%s' "$ROOT" | sha256sum | cut -c1-8)
INSTANCE=${PSB_INSTANCE:-}
RT=${PSB_RUNTIME:-/tmp/psb-$UID_-$HASH${INSTANCE:+-$INSTANCE}}
RT=${RT%/}
ENVLINK=$ROOT/build/services${INSTANCE:+-$INSTANCE}.env
IMAGE_DEFAULT=psb-sandbox:local
SANDBOX=${PSB_SANDBOX:-}
case "$SANDBOX" in
    '') ;;
    agent) IMAGE_DEFAULT=psb-agent:local ;;
    *) echo "services: error: PSB_SANDBOX: only 'agent' is supported" >&2; exit 1 ;;
esac
REDIS_PORT_BASE=${PSB_REDIS_PORT:-16379}
DOCKER_TIMEOUT=${PSB_DOCKER_START_TIMEOUT:-60}
DOCKER_RUNTIME=${PSB_DOCKER_RUNTIME:-}
ENGINE=${PSB_ENGINE:-docker}

SOCK=$RT/docker.sock
QUIET=0

log()  { [ "$QUIET" = 1 ] || echo "services: $*" >&2; }
warn() { echo "services: $*" >&2; }
die()  { echo "services: error: $*" >&2; exit 1; }

case "$RT" in /*) ;; *) die "PSB_RUNTIME must be absolute: $RT" ;; esac
case "$DOCKER_RUNTIME" in
    ''|runsc) ;;
    *) die "PSB_DOCKER_RUNTIME: only 'runsc' is supported, not '$DOCKER_RUNTIME'" ;;
esac
case "$ENGINE" in
    docker|podman) ;;
    *) die "PSB_ENGINE: 'docker' or 'podman', not '$ENGINE'" ;;
esac
if [ "$ENGINE" = podman ] && [ -n "$DOCKER_RUNTIME" ]; then
    die "PSB_DOCKER_RUNTIME is for PSB_ENGINE=docker only"
fi
# containerd's socket (+ ".ttrpc") is the longest path dockerd derives
_longest="$RT/docker-exec/containerd/containerd.sock.ttrpc"
if [ ${#_longest} -ge 104 ]; then
    die "runtime dir path too long for unix sockets: $RT"
fi

# alive = exists and is not a zombie (a daemonized child is reaped by PID 1,
# which may take a while; a zombie holds no ports, sockets or mounts)
pid_alive() {
    [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
    local st
    st=$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "$st" != Z ] && [ "$st" != X ]
}
read_pid()  { [ -s "$1" ] && tr -dc '0-9' < "$1" || true; }
# pid whose /proc/PID/cmdline contains a given word
pid_is() { tr '\0' ' ' 2>/dev/null < "/proc/$1/cmdline" | grep -q -- "$2"; }

docker_ping() {   # $1 = socket path
    [ -S "$1" ] && [ "$(curl -s --max-time 2 --unix-socket "$1" http://localhost/_ping 2>/dev/null)" = OK ]
}
redis_ping() {    # $1 host $2 port
    [ "$(timeout 3 redis-cli -h "$1" -p "$2" PING 2>/dev/null)" = PONG ]
}
port_in_use() {   # something accepts on 127.0.0.1:$1
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pid_name() { pid_is "$1" podman && echo "podman service" || echo dockerd; }

# the API daemon: dockerd, or podman's service (PSB_ENGINE=podman)
dockerd_pid() {
    local p
    p=$(read_pid "$RT/podman.pid")
    if pid_alive "$p" && pid_is "$p" podman; then echo "$p"; return 0; fi
    for f in "$RT/docker.pid" "$RT/dockerd.launch.pid"; do
        p=$(read_pid "$f")
        if pid_alive "$p" && pid_is "$p" dockerd; then echo "$p"; return 0; fi
    done
    return 1
}
redis_pid() {
    local p; p=$(read_pid "$RT/redis.pid")
    if pid_alive "$p" && pid_is "$p" redis-server; then echo "$p"; return 0; fi
    return 1
}

# ----------------------------------------------------------------- lock
# serialise start/stop on one runtime dir.  fd 9 must not leak into the
# daemons (they would hold the lock forever): see the `9>&-` redirections.
LOCK=$RT.lock
take_lock() {
    exec 9>"$LOCK"
    if ! flock -w 120 9; then die "timed out waiting for $LOCK"; fi
}

# ----------------------------------------------------------------- health
# Prints nothing; returns 0 when every service we are responsible for is up.
healthy() {
    if [ "${PSB_NO_REDIS:-0}" = 1 ]; then
        :
    elif [ -n "${BRIDGE_REDIS:-}" ]; then
        redis_ping "${BRIDGE_REDIS%:*}" "${BRIDGE_REDIS##*:}" || return 1
    else
        redis_pid >/dev/null || return 1
        redis_ping 127.0.0.1 "$(cat "$RT/redis.port" 2>/dev/null)" || return 1
    fi
    if [ -n "${BRIDGE_DOCKER_SOCKET:-}" ]; then
        docker_ping "$BRIDGE_DOCKER_SOCKET" || return 1
    else
        dockerd_pid >/dev/null || return 1
        docker_ping "$SOCK" || return 1
        # a set started with another engine or without the runtime asked
        # for is not the one wanted
        [ "$(cat "$RT/engine" 2>/dev/null || echo docker)" = "$ENGINE" ] \
            || return 1
        if [ -n "$DOCKER_RUNTIME" ]; then
            [ -x "$RT/$DOCKER_RUNTIME-wrapper" ] || return 1
        fi
    fi
    [ -f "$RT/services.env" ] || return 1
    return 0
}

# ----------------------------------------------------------------- redis
start_redis() {
    local port=$REDIS_PORT_BASE last=$(( REDIS_PORT_BASE + 100 )) p
    mkdir -p "$RT/redis"
    chmod 0700 "$RT/redis"
    while [ "$port" -le "$last" ]; do
        if port_in_use "$port"; then port=$((port + 1)); continue; fi
        rm -f "$RT/redis.pid"
        : > "$RT/redis.log"
        redis-server \
            --bind 127.0.0.1 --port "$port" --protected-mode yes \
            --appendonly yes --dir "$RT/redis" \
            --daemonize yes --pidfile "$RT/redis.pid" --logfile "$RT/redis.log" \
            --loglevel notice </dev/null >/dev/null 2>&1 9>&- || true
        for _ in $(seq 1 100); do
            if redis_ping 127.0.0.1 "$port"; then
                p=$(read_pid "$RT/redis.pid")
                # make sure the PONG came from *our* redis
                if pid_alive "$p"; then
                    echo "$port" > "$RT/redis.port"
                    log "redis-server pid $p on 127.0.0.1:$port (data $RT/redis)"
                    return 0
                fi
            fi
            if grep -q 'Address already in use\|Could not create server TCP' "$RT/redis.log" 2>/dev/null; then
                break
            fi
            sleep 0.1
        done
        p=$(read_pid "$RT/redis.pid")
        pid_alive "$p" && kill -KILL "$p" 2>/dev/null || true
        if grep -q 'Address already in use\|Could not create server TCP' "$RT/redis.log" 2>/dev/null; then
            port=$((port + 1)); continue
        fi
        tail -n 20 "$RT/redis.log" >&2 || true
        die "redis-server did not start (log: $RT/redis.log)"
    done
    die "no free port for redis in $REDIS_PORT_BASE..$last"
}

stop_redis() {
    local p port
    p=$(redis_pid) || return 0
    port=$(cat "$RT/redis.port" 2>/dev/null || true)
    if [ -n "$port" ]; then
        timeout 5 redis-cli -h 127.0.0.1 -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    fi
    for _ in $(seq 1 50); do pid_alive "$p" || break; sleep 0.1; done
    if pid_alive "$p"; then kill -TERM "$p" 2>/dev/null || true; fi
    for _ in $(seq 1 50); do pid_alive "$p" || break; sleep 0.1; done
    if pid_alive "$p"; then kill -KILL "$p" 2>/dev/null || true; fi
    log "redis-server stopped"
}

# ----------------------------------------------------------------- dockerd
start_dockerd() {
    local p extra=()
    if [ "$ENGINE" = podman ]; then start_podman; return; fi
    command -v dockerd >/dev/null || die "dockerd missing (docker.io; make deps)"
    mkdir -p "$RT/docker-data" "$RT/docker-exec"
    rm -f "$SOCK" "$RT/docker.pid" "$RT/dockerd.launch.pid"
    [ -n "${PSB_DOCKER_STORAGE_DRIVER:-}" ] && extra+=(--storage-driver="$PSB_DOCKER_STORAGE_DRIVER")
    # shellcheck disable=SC2206
    [ -n "${PSB_DOCKERD_ARGS:-}" ] && extra+=(${PSB_DOCKERD_ARGS})
    if [ "$DOCKER_RUNTIME" = runsc ]; then
        command -v runsc >/dev/null \
            || die "runsc missing (make deps-runsc; Debian package runsc)"
        install -m 0755 "$ROOT/util/runsc-wrapper" "$RT/runsc-wrapper"
        if [ "${PSB_RUNSC_IGNORE_CGROUPS:-0}" = 1 ]; then
            # limits (memory, cpus, pids) are then NOT enforced
            sed -i 's/^exec runsc /exec runsc --ignore-cgroups /' "$RT/runsc-wrapper"
        fi
        extra+=(--add-runtime "runsc=$RT/runsc-wrapper")
    fi
    # setsid: own session, so a Ctrl-C on the terminal does not hit dockerd
    # (stop does the orderly shutdown).
    setsid dockerd \
        --host "unix://$SOCK" \
        --data-root "$RT/docker-data" \
        --exec-root "$RT/docker-exec" \
        --pidfile "$RT/docker.pid" \
        --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
        --live-restore \
        "${extra[@]}" \
        </dev/null >"$RT/dockerd.log" 2>&1 9>&- &
    echo $! > "$RT/dockerd.launch.pid"
    for _ in $(seq 1 $(( DOCKER_TIMEOUT * 10 ))); do
        if docker_ping "$SOCK"; then
            p=$(dockerd_pid || true)
            log "dockerd pid ${p:-?} on unix://$SOCK (log $RT/dockerd.log)${DOCKER_RUNTIME:+ runtime $DOCKER_RUNTIME}"
            return 0
        fi
        if ! pid_alive "$(read_pid "$RT/dockerd.launch.pid")" && ! dockerd_pid >/dev/null; then
            tail -n 30 "$RT/dockerd.log" >&2 || true
            die "dockerd exited during startup (log: $RT/dockerd.log)"
        fi
        sleep 0.1
    done
    tail -n 30 "$RT/dockerd.log" >&2 || true
    die "dockerd did not answer /_ping within ${DOCKER_TIMEOUT}s"
}

# ----------------------------------------------------------------- podman
# `podman system service` with everything it writes under $RT/podman: its
# own containers.conf (CONTAINERS_CONF), storage (--root), run dir
# (--runroot), tmp dir (conmon exit files, events, file locks instead of
# the shared /dev/shm/libpod_lock) and network config dir.
podman_conf() {
    # podman raises RLIMIT_NOFILE and RLIMIT_NPROC of containers to
    # 1048576 / 4194304, which fails without CAP_SYS_RESOURCE ("error
    # setting rlimit type 7"); keep ours (podman itself caps its
    # RLIMIT_NPROC at kernel.pid_max, so the containers' must fit that too)
    local l=() v pm
    v="$(ulimit -Sn):$(ulimit -Hn)"; [[ $v = *unlimited* ]] || l+=("\"nofile=$v\"")
    pm=$(cat /proc/sys/kernel/pid_max)
    v=$(ulimit -Hu); [[ $v = unlimited ]] || [ "$v" -gt "$pm" ] && v=$pm
    l+=("\"nproc=$v:$v\"")
    cat <<EOF
# written by util/services.sh (PSB_ENGINE=podman)
[containers]
default_ulimits = [$(IFS=,; echo "${l[*]}")]
# podman gives a container without PidsLimit its own 2048; sandbox_pids_limit
# 0 means none, as with Docker
pids_limit = 0
init_path = "/usr/libexec/podman/catatonit"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
lock_type = "file"
tmp_dir = "$RT/podman/tmp"

[network]
network_config_dir = "$RT/podman/net"
EOF
}

start_podman() {
    command -v podman >/dev/null \
        || die "podman missing (make deps-podman; Debian packages podman, catatonit)"
    [ -x /usr/libexec/podman/catatonit ] \
        || die "catatonit missing (make deps-podman): lease containers use Init"
    mkdir -p "$RT/podman/root" "$RT/podman/run" "$RT/podman/tmp" "$RT/podman/net"
    podman_conf > "$RT/podman/containers.conf"
    rm -f "$SOCK" "$RT/podman.pid"
    echo podman > "$RT/engine"
    setsid env CONTAINERS_CONF="$RT/podman/containers.conf" podman \
        --root "$RT/podman/root" --runroot "$RT/podman/run" \
        --tmpdir "$RT/podman/tmp" \
        system service --time=0 "unix://$SOCK" \
        </dev/null >"$RT/podman.log" 2>&1 9>&- &
    echo $! > "$RT/podman.pid"
    for _ in $(seq 1 $(( DOCKER_TIMEOUT * 10 ))); do
        if docker_ping "$SOCK"; then
            log "podman service pid $(cat "$RT/podman.pid") on unix://$SOCK (log $RT/podman.log)"
            return 0
        fi
        if ! pid_alive "$(read_pid "$RT/podman.pid")"; then
            tail -n 30 "$RT/podman.log" >&2 || true
            die "podman system service exited during startup (log: $RT/podman.log)"
        fi
        sleep 0.1
    done
    tail -n 30 "$RT/podman.log" >&2 || true
    die "podman system service did not answer /_ping within ${DOCKER_TIMEOUT}s"
}

# pids of every process whose command line mentions our runtime dir
# (containerd, containerd-shim-runc-v2, a dockerd whose pidfile is gone)
rt_pids() {
    local d pid
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        [ "$pid" = "$$" ] && continue
        [ "$pid" = "${BASHPID:-$$}" ] && continue
        if tr '\0' '\n' 2>/dev/null < "$d/cmdline" | grep -qF -- "$RT/"; then
            echo "$pid"
        fi
    done
}

stop_dockerd() {
    local p name ids c runc_root=$RT/docker-exec/runtime-runc/moby
    # 1. remove every container on *this* dockerd (never on an override)
    if docker_ping "$SOCK"; then
        ids=$(timeout 30 docker -H "unix://$SOCK" ps -aq 2>/dev/null || true)
        if [ -n "$ids" ]; then
            # shellcheck disable=SC2086
            timeout 60 docker -H "unix://$SOCK" rm -f $ids >/dev/null 2>&1 || true
            log "removed $(echo $ids | wc -w) container(s)"
        fi
        # egress networks (util/egress.sh): their bridge and iptables
        # rules would outlive the daemon
        for c in $(timeout 30 docker -H "unix://$SOCK" network ls \
                       --filter label=psb.egress=1 --format '{{.Name}}' 2>/dev/null); do
            DOCKER_HOST=unix://$SOCK "$ROOT/util/egress.sh" down "$c" || true
            log "removed egress network $c"
        done
    fi
    # 2. SIGTERM dockerd, wait up to 20s, then SIGKILL
    if p=$(dockerd_pid); then
        name=$(pid_name "$p")
        kill -TERM "$p" 2>/dev/null || true
        for _ in $(seq 1 200); do pid_alive "$p" || break; sleep 0.1; done
        if pid_alive "$p"; then
            warn "$name $p ignored SIGTERM for 20s; SIGKILL"
            kill -KILL "$p" 2>/dev/null || true
            for _ in $(seq 1 50); do pid_alive "$p" || break; sleep 0.1; done
        fi
        log "$name stopped"
    fi
    # 3. containers that outlived their daemon (crash / SIGKILL): ask runc
    if [ -d "$runc_root" ] && command -v runc >/dev/null; then
        for c in $(runc --root "$runc_root" list -q 2>/dev/null || true); do
            runc --root "$runc_root" kill "$c" KILL >/dev/null 2>&1 || true
            runc --root "$runc_root" delete --force "$c" >/dev/null 2>&1 || true
            warn "killed leftover container $c via runc"
        done
    fi
    # 3b. podman: its containers, also when its service is gone
    if [ -d "$RT/podman/root" ] && command -v podman >/dev/null; then
        CONTAINERS_CONF=$RT/podman/containers.conf timeout 60 podman \
            --root "$RT/podman/root" --runroot "$RT/podman/run" \
            --tmpdir "$RT/podman/tmp" rm -a -f -t 0 >/dev/null 2>&1 || true
    fi
    # 4. leftover containerd / shims (conmon) of this runtime dir
    local left
    left=$(rt_pids)
    if [ -n "$left" ]; then
        # shellcheck disable=SC2086
        kill -TERM $left 2>/dev/null || true
        for _ in $(seq 1 50); do
            left=$(rt_pids); [ -z "$left" ] && break; sleep 0.1
        done
        if [ -n "$left" ]; then
            # shellcheck disable=SC2086
            kill -KILL $left 2>/dev/null || true
            sleep 0.2
        fi
        log "killed leftover containerd/shim processes"
    fi
}

# ----------------------------------------------------------------- mounts
rt_mounts() {   # mount points at or below $RT, deepest first
    awk -v rt="$RT" '{
        mp = $5; gsub(/\\040/, " ", mp);
        if (mp == rt || index(mp, rt "/") == 1) print length(mp) " " mp
    }' /proc/self/mountinfo | sort -rn | cut -d' ' -f2-
}
umount_rt() {
    local m n=0
    for _ in 1 2 3; do
        while IFS= read -r m; do
            [ -n "$m" ] || continue
            umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
            n=$((n + 1))
        done < <(rt_mounts)
        [ -z "$(rt_mounts)" ] && break
        sleep 0.2
    done
    [ "$n" -gt 0 ] && log "unmounted $n mount(s) under $RT"
    [ -z "$(rt_mounts)" ] || { warn "mounts still present under $RT:"; rt_mounts >&2; return 1; }
}

# ----------------------------------------------------------------- env file
write_env() {
    local rhost rport dsock image tmp
    if [ "${PSB_NO_REDIS:-0}" = 1 ]; then
        rhost=; rport=
    elif [ -n "${BRIDGE_REDIS:-}" ]; then
        rhost=${BRIDGE_REDIS%:*}; rport=${BRIDGE_REDIS##*:}
    else
        rhost=127.0.0.1; rport=$(cat "$RT/redis.port")
    fi
    dsock=${BRIDGE_DOCKER_SOCKET:-$SOCK}
    image=${BRIDGE_IMAGE:-$IMAGE_DEFAULT}
    tmp=$RT/services.env.tmp
    {
        echo "# written by util/services.sh start ($(date -u +%FT%TZ)); source it"
        printf 'export TEST_NGINX_REDIS_HOST=%q\n' "$rhost"
        printf 'export TEST_NGINX_REDIS_PORT=%q\n' "$rport"
        printf 'export TEST_NGINX_DOCKER_SOCKET=%q\n' "$dsock"
        printf 'export TEST_NGINX_SANDBOX_IMAGE=%q\n' "$image"
        printf 'export DOCKER_HOST=%q\n' "unix://$dsock"
        printf 'export PSB_RUNTIME=%q\n' "$RT"
    } > "$tmp"
    mv "$tmp" "$RT/services.env"
    mkdir -p "$ROOT/build"
    ln -sfn "$RT/services.env" "$ENVLINK"
}

# ----------------------------------------------------------------- commands
do_stop() {
    # Every step is a no-op when there is nothing to stop, so this also
    # cleans up after a crash or a half-finished start (and, via the
    # command-line sweep, even when the runtime dir itself was deleted).
    stop_dockerd
    umount_rt || true
    stop_redis
    # a second sweep: anything that started while we were stopping
    [ -z "$(rt_pids)" ] || stop_dockerd
    if [ -d "$RT" ]; then
        umount_rt
        rm -rf "$RT" 2>/dev/null || { umount_rt || true; rm -rf "$RT"; }
        log "removed $RT"
    fi
    if [ -L "$ENVLINK" ] && [ "$(readlink "$ENVLINK")" = "$RT/services.env" ]; then
        rm -f "$ENVLINK"
    fi
}

do_start() {
    local t0=$SECONDS
    command -v redis-server >/dev/null || [ -n "${BRIDGE_REDIS:-}" ] \
        || die "redis-server missing (make deps)"
    if [ -d "$RT" ] && healthy; then
        write_env
        log "already running ($RT)"
        return 0
    fi
    if [ -d "$RT" ]; then
        log "stale runtime dir $RT: cleaning up first"
        do_stop
    fi
    mkdir -p "$RT"
    chmod 0755 "$RT"   # nginx workers (nobody) may need to traverse it

    # on failure, tear down whatever got started
    # shellcheck disable=SC2154
    trap 'rc=$?; if [ $rc -ne 0 ]; then warn "start failed; cleaning up"; do_stop || true; fi' EXIT

    if [ "${PSB_NO_REDIS:-0}" = 1 ]; then
        log "no redis (PSB_NO_REDIS=1)"
    elif [ -n "${BRIDGE_REDIS:-}" ]; then
        redis_ping "${BRIDGE_REDIS%:*}" "${BRIDGE_REDIS##*:}" \
            || die "BRIDGE_REDIS=$BRIDGE_REDIS does not answer PING"
        log "using existing redis $BRIDGE_REDIS"
    else
        start_redis
    fi

    local dsock
    if [ -n "${BRIDGE_DOCKER_SOCKET:-}" ]; then
        docker_ping "$BRIDGE_DOCKER_SOCKET" \
            || die "BRIDGE_DOCKER_SOCKET=$BRIDGE_DOCKER_SOCKET does not answer /_ping"
        dsock=$BRIDGE_DOCKER_SOCKET
        log "using existing dockerd $dsock"
    else
        start_dockerd
        dsock=$SOCK
    fi

    if [ -n "${BRIDGE_IMAGE:-}" ]; then
        DOCKER_HOST="unix://$dsock" docker image inspect "$BRIDGE_IMAGE" >/dev/null 2>&1 \
            || warn "BRIDGE_IMAGE=$BRIDGE_IMAGE not present on unix://$dsock"
    else
        DOCKER_HOST="unix://$dsock" "$ROOT/util/build-image.sh" psb-sandbox:local
        if [ "$SANDBOX" = agent ]; then
            DOCKER_HOST="unix://$dsock" "$ROOT/util/sandbox-image.sh" "$IMAGE_DEFAULT"
        fi
    fi

    write_env
    trap - EXIT
    log "up in $((SECONDS - t0))s; env: $ENVLINK -> $RT/services.env"
}

cmd=${1:-}
[ "${2:-}" = "-q" ] && QUIET=1
case "$cmd" in
    start)  take_lock; do_start ;;
    stop)   take_lock; do_stop; rm -f "$LOCK" ;;
    status)
        if [ -d "$RT" ] && healthy; then
            log "running: $RT"; exit 0
        else
            log "not running ($RT)"; exit 1
        fi ;;
    env)    echo "$RT/services.env" ;;
    restart-dockerd|stop-dockerd)
        # stop (and start) the private dockerd only; with --live-restore its
        # containers keep running meanwhile (README "Failure behaviour")
        take_lock
        p=$(dockerd_pid) || die "no private dockerd running ($RT)"
        kill -TERM "$p" 2>/dev/null || true
        for _ in $(seq 1 200); do pid_alive "$p" || break; sleep 0.1; done
        pid_alive "$p" && die "dockerd $p did not stop within 20s"
        log "dockerd stopped"
        [ "$cmd" = stop-dockerd ] && exit 0
        sleep "${PSB_DOCKER_DOWN:-0}"
        start_dockerd
        ;;
    start-dockerd)
        take_lock
        start_dockerd
        ;;
    image)
        take_lock
        healthy || die "services not running (util/services.sh start)"
        # shellcheck disable=SC1091
        . "$RT/services.env"
        if [ "$SANDBOX" = agent ]; then
            "$ROOT/util/sandbox-image.sh" -f "${BRIDGE_IMAGE:-$IMAGE_DEFAULT}"
        else
            "$ROOT/util/build-image.sh" -f "${BRIDGE_IMAGE:-$IMAGE_DEFAULT}"
        fi ;;
    *)
        sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 2 ;;
esac
