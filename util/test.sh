#!/usr/bin/env bash
# Run the Test::Nginx-style suite against private services.
# Normally called through make (make test / test-asan / test-valgrind), which
# builds first.
#
#   util/test.sh [--asan|--valgrind]
#
# Environment:
#   T                   files/dirs for prove (default: t), e.g. T=t/010-auth.t
#   PROVE_FLAGS         extra prove flags (e.g. -v, --timer)
#   PERL5LIB            with openresty's Test::Nginx lib: run under it
#                       instead of t/lib
#   TEST_NGINX_BINARY   nginx to test (default /usr/sbin/nginx; --asan uses
#                       build/asan/sbin/nginx)
#   TEST_NGINX_SERVROOT default <repo>/t/servroot
#   BRIDGE_REDIS / BRIDGE_DOCKER_SOCKET / BRIDGE_IMAGE  use existing services
#   PSB_CLUSTER=1       also util/cluster.sh (Sentinel, two dockerds, TLS;
#                       make test-cluster), stopped again on exit
#
# Services are started unless already running (util/services.sh status), and
# stopped again on exit -- also on failure, Ctrl-C or SIGTERM -- if this script
# started them.  Any nginx left in the servroot is stopped too.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$ROOT"
MODNAME=ngx_http_sandbox_bridge_module

mode=stock
case "${1:-}" in
    "")          ;;
    --asan)      mode=asan ;;
    --valgrind)  mode=valgrind ;;
    *) echo "usage: $0 [--asan|--valgrind]" >&2; exit 2 ;;
esac

die() { echo "test.sh: error: $*" >&2; exit 1; }

case "$mode" in
    asan)
        BIN=$ROOT/build/asan/sbin/nginx
        SO=$ROOT/build/asan/modules/$MODNAME.so
        [ -x "$BIN" ] || die "$BIN missing: run make nginx-asan" ;;
    *)
        BIN=${TEST_NGINX_BINARY:-/usr/sbin/nginx}
        SO=$ROOT/build/module/$MODNAME.so ;;
esac
[ -f "$SO" ] || die "$SO missing: run make build"
[ -x "$BIN" ] || command -v "$BIN" >/dev/null || die "nginx binary $BIN not found"

export TEST_NGINX_BINARY=$BIN
export TEST_NGINX_LOAD_MODULES=$SO
export TEST_NGINX_SERVROOT=${TEST_NGINX_SERVROOT:-$ROOT/t/servroot}

T=${T:-t}
# shellcheck disable=SC2206
targets=( $T )
# shellcheck disable=SC2206
prove_flags=( ${PROVE_FLAGS:-} )

# ---------------------------------------------------------------- cleanup

# the parent watch (psb_watch_parent) of util/run-lib.sh
# shellcheck source=util/run-lib.sh
. "$ROOT/util/run-lib.sh"
started_services=0
started_cluster=0
stop_servroot_nginx() {
    local pidf=$TEST_NGINX_SERVROOT/logs/nginx.pid p
    p=$( [ -s "$pidf" ] && tr -dc '0-9' < "$pidf" || true )
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null || return 0
    tr '\0' ' ' 2>/dev/null < "/proc/$p/cmdline" | grep -q nginx || return 0
    echo "test.sh: stopping leftover nginx $p" >&2
    kill -QUIT "$p" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
    pkill -KILL -P "$p" 2>/dev/null || true   # its workers
    kill -KILL "$p" 2>/dev/null || true
}
# pids of a process and all its descendants, children first
tree_pids() {
    local c
    for c in $(pgrep -P "$1" 2>/dev/null || true); do tree_pids "$c"; done
    echo "$1"
}
prove_pid=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    psb_unwatch_parent
    if [ -n "$prove_pid" ] && kill -0 "$prove_pid" 2>/dev/null; then
        echo "test.sh: interrupted; stopping prove" >&2
        # shellcheck disable=SC2046
        kill -TERM $(tree_pids "$prove_pid") 2>/dev/null || true
        for _ in $(seq 1 30); do kill -0 "$prove_pid" 2>/dev/null || break; sleep 0.1; done
        # shellcheck disable=SC2046
        kill -KILL $(tree_pids "$prove_pid") 2>/dev/null || true
    fi
    stop_servroot_nginx || true
    if [ "$started_services" = 1 ]; then
        "$ROOT/util/services.sh" stop || rc=1
    fi
    if [ "$started_cluster" = 1 ]; then
        "$ROOT/util/cluster.sh" stop || rc=1
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
psb_watch_parent

# ---------------------------------------------------------------- services
if [ "${PSB_CLUSTER:-0}" = 1 ]; then
    :   # the cluster's files need only util/cluster.sh
elif "$ROOT/util/services.sh" status -q; then
    echo "test.sh: reusing running services" >&2
else
    started_services=1
    "$ROOT/util/services.sh" start
fi
if [ "${PSB_CLUSTER:-0}" != 1 ]; then
    # shellcheck disable=SC1090
    . "$("$ROOT/util/services.sh" env)"
else
    started_cluster=1
    "$ROOT/util/cluster.sh" start
    # shellcheck disable=SC1090
    . "$("$ROOT/util/cluster.sh" env)"
fi

# ---------------------------------------------------------------- harness
# openresty's Test::Nginx when it is installed or on PERL5LIB (README
# "Tests"), else t/lib.  One that is there but does not load is an error,
# not a silent switch to t/lib.
if ! err=$(perl -MTest::Nginx::Socket -e1 2>&1); then
    if perl -e 'exit !grep { -f "$_/Test/Nginx/Socket.pm" } @INC'; then
        die "Test::Nginx::Socket does not load: $err"
    fi
    export PERL5LIB=$ROOT/t/lib${PERL5LIB:+:$PERL5LIB}
fi
harness=$(perl -MTest::Nginx::Socket -e 'print $INC{"Test/Nginx/Socket.pm"}')

asan_dir=
case "$mode" in
    asan)
        asan_dir=$ROOT/build/asan-logs
        rm -rf "$asan_dir"; mkdir -p "$asan_dir"
        chmod 1777 "$asan_dir"   # workers may run as nobody
        # Reports go to files (one per pid) that we scan afterwards, so a
        # report from a worker or from the exit-time leak check cannot be lost
        # in a truncated error.log.  detect_odr_violation=0: every dynamic
        # module defines ngx_module_names (objs/ngx_modules.c of its build).
        export ASAN_OPTIONS="detect_odr_violation=0:detect_leaks=1:abort_on_error=0:halt_on_error=1:log_path=$asan_dir/asan:log_exe_name=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
        # lsan.suppress: nginx-core exit-time false positives only.
        # exitcode=0: `nginx -t` never frees its cycle, and tests check its
        # exit status; every report is still scanned by util/asan-scan.sh.
        export LSAN_OPTIONS="print_suppressions=0:exitcode=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
        if [ -f "$ROOT/lsan.suppress" ]; then
            LSAN_OPTIONS="suppressions=$ROOT/lsan.suppress:$LSAN_OPTIONS"
        fi ;;
    valgrind)
        command -v valgrind >/dev/null || die "valgrind missing (make deps-valgrind)"
        export TEST_NGINX_USE_VALGRIND=1 ;;
esac

echo "test.sh: $mode nginx=$TEST_NGINX_BINARY module=$TEST_NGINX_LOAD_MODULES" >&2
echo "test.sh: harness=$harness" >&2
echo "test.sh: redis=${TEST_NGINX_REDIS_HOST:-}:${TEST_NGINX_REDIS_PORT:-}${CLUSTER_SENTINELS:+ sentinels=$CLUSTER_SENTINELS} docker=${TEST_NGINX_DOCKER_SOCKET:-$CLUSTER_DOCKER1_SOCKET} image=$TEST_NGINX_SANDBOX_IMAGE" >&2

rc=0
# In the background + wait, so that SIGTERM/SIGINT run the trap at once
# instead of after prove finishes; cleanup() then kills the prove tree.
# Under util/subreaper.pl the daemonized test nginx is reaped as soon as
# it exits (see there: a second per block under openresty's harness).
"$ROOT/util/subreaper.pl" prove -r "${prove_flags[@]}" "${targets[@]}" </dev/null &
prove_pid=$!
wait "$prove_pid" || rc=$?
prove_pid=

# make sure nginx has exited (leak reports are written at exit)
stop_servroot_nginx || true

if [ -n "$asan_dir" ]; then
    sleep 0.5
    shopt -s nullglob
    "$ROOT/util/asan-scan.sh" "$asan_dir"/asan* "$TEST_NGINX_SERVROOT"/logs/*.log \
        || { [ "$rc" -ne 0 ] || rc=1; }
    shopt -u nullglob
fi

exit "$rc"
