#!/usr/bin/env bash
# Run the bridge locally: private services + the stock nginx in the foreground
# with conf-examples/quickstart.conf.  Called by `make run` (which builds first).
#
# Environment:
#   BRIDGE_PORT         listen port (default 8080)
#   BRIDGE_AUTH_TOKEN   bearer token (default: generated, printed, kept in
#                       <rt>/bridge-token, mode 0600)
#   BRIDGE_REDIS / BRIDGE_DOCKER_SOCKET / BRIDGE_IMAGE   use existing services
#   BRIDGE_TEMPLATE     config template (default conf-examples/quickstart.conf)
#   NGINX_BIN           default /usr/sbin/nginx
#   PSB_INSTANCE        services instance (default "run": separate from tests)
#   BRIDGE_RUNTIME      runsc: the private dockerd gets gVisor's runsc as
#                       runtime "runsc" and the config `sandbox_runtime runsc;`
#                       (instance "run-runsc"; README "gVisor")
#   BRIDGE_SANDBOX      agent: sandbox_image is the agent image psb-agent:local
#                       (util/sandbox-image.sh; AGENT_NPM_PACKAGES adds agent
#                       CLIs; instance "run-agent"; README "Agent sandbox image")
#   BRIDGE_WARM_POOL    started containers kept ready for acquires (README
#                       "Warm pool"; default 2, 0 turns the pool off); the
#                       unclaimed ones are removed when run.sh stops
#   BRIDGE_EGRESS       1: lease containers on the network psb-egress
#                       (util/egress.sh: egress, no lease to lease, no host
#                       services), config `sandbox_network psb-egress;`
#                       (README "Networking"); BRIDGE_EGRESS_SUBNET
#                       (198.19.0.0/24), BRIDGE_EGRESS_NETWORK (psb-egress),
#                       BRIDGE_EGRESS_HOST_PORTS (host TCP
#                       ports the sandboxes may reach, e.g. an HTTP proxy),
#                       PSB_EGRESS_OUTSIDE=0 (only those ports, no NAT)
#
# Template placeholders (util/render-conf, ${BRIDGE_*} only): BRIDGE_PORT,
# BRIDGE_MODULE, BRIDGE_TOKEN_FILE, BRIDGE_REDIS, BRIDGE_DOCKER_SOCKET,
# BRIDGE_IMAGE, BRIDGE_PREFIX (nginx runtime dir: logs, temp paths),
# BRIDGE_RUNTIME, BRIDGE_NETWORK and BRIDGE_WARM_POOL (optional lines "#?BRIDGE_X ..."), and also
# BRIDGE_USER (the current user, for a `user` directive) if the template wants it.
# The template must not contain `daemon`; nginx runs with -g 'daemon off;'.
#
# Ctrl-C / SIGTERM: nginx is stopped, then the services; nothing is left running.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$ROOT"
MODNAME=ngx_http_sandbox_bridge_module
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
TEMPLATE=${BRIDGE_TEMPLATE:-$ROOT/conf-examples/quickstart.conf}
export BRIDGE_RUNTIME=${BRIDGE_RUNTIME:-}
instance=run
case "$BRIDGE_RUNTIME" in
    '') ;;
    runsc)
        command -v runsc >/dev/null || "$ROOT/util/deps.sh" runsc
        export PSB_DOCKER_RUNTIME=runsc
        instance=run-runsc ;;
    *) echo "run.sh: error: BRIDGE_RUNTIME: only runsc is supported" >&2; exit 1 ;;
esac
case "${BRIDGE_SANDBOX:-}" in
    '') ;;
    agent)
        "$ROOT/util/deps.sh" image
        export PSB_SANDBOX=agent
        instance=$instance-agent ;;
    *) echo "run.sh: error: BRIDGE_SANDBOX: only agent is supported" >&2; exit 1 ;;
esac
export PSB_INSTANCE=${PSB_INSTANCE-$instance}
case "${BRIDGE_EGRESS:-0}" in
    0) export BRIDGE_NETWORK= ;;
    1) export BRIDGE_NETWORK=${BRIDGE_EGRESS_NETWORK:-psb-egress} ;;
    *) echo "run.sh: error: BRIDGE_EGRESS must be 0 or 1" >&2; exit 1 ;;
esac
export BRIDGE_PORT=${BRIDGE_PORT:-8080}
export BRIDGE_WARM_POOL=${BRIDGE_WARM_POOL:-2}
SO=$ROOT/build/module/$MODNAME.so

die() { echo "run.sh: error: $*" >&2; exit 1; }
# shellcheck source=util/run-lib.sh
. "$ROOT/util/run-lib.sh"

[ -f "$SO" ] || die "$SO missing: run make build"
[ -f "$TEMPLATE" ] || die "config template $TEMPLATE not found"
case "$BRIDGE_PORT" in ''|*[!0-9]*) die "BRIDGE_PORT must be a number" ;; esac
case "$BRIDGE_WARM_POOL" in
    *[!0-9]*) die "BRIDGE_WARM_POOL must be a number" ;;
esac
psb_port_free "$BRIDGE_PORT" \
    || die "port $BRIDGE_PORT is already in use (set BRIDGE_PORT)"

nginx_pid=
started_services=0
egress_up=0

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    psb_unwatch_parent
    if [ -n "$nginx_pid" ] && kill -0 "$nginx_pid" 2>/dev/null; then
        echo "run.sh: stopping nginx" >&2
        psb_stop_nginx "$nginx_pid"
    fi
    if [ "$BRIDGE_WARM_POOL" != 0 ] && [ -n "${BRIDGE_DOCKER_SOCKET:-}" ]; then
        # the unclaimed warm pool containers (named psb-pool_...)
        local ids
        ids=$(DOCKER_HOST=unix://$BRIDGE_DOCKER_SOCKET docker ps -aq \
              --filter label=paperclip.bridge.prefix=psb: \
              --filter label=paperclip.bridge.pool \
              --filter name=^psb-pool_ 2>/dev/null) || ids=
        if [ -n "$ids" ]; then
            # shellcheck disable=SC2086
            DOCKER_HOST=unix://$BRIDGE_DOCKER_SOCKET docker rm -f $ids \
                >/dev/null || rc=1
        fi
    fi
    if [ "$egress_up" = 1 ]; then
        DOCKER_HOST=unix://$BRIDGE_DOCKER_SOCKET \
            "$ROOT/util/egress.sh" down "$BRIDGE_NETWORK" || rc=1
    fi
    if [ "$started_services" = 1 ]; then
        "$ROOT/util/services.sh" stop || rc=1
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'echo >&2; exit 130' INT
trap 'exit 143' TERM
psb_watch_parent

# ---------------------------------------------------------------- services
# Always start/own a runtime dir (also used for the token, config and nginx
# prefix); services.sh itself skips whatever BRIDGE_* overrides provide.
if "$ROOT/util/services.sh" status -q; then
    echo "run.sh: reusing running services (instance '${PSB_INSTANCE}')" >&2
else
    started_services=1
    "$ROOT/util/services.sh" start
fi
# shellcheck disable=SC1090
. "$("$ROOT/util/services.sh" env)"
RT=$PSB_RUNTIME

export BRIDGE_REDIS=${BRIDGE_REDIS:-$TEST_NGINX_REDIS_HOST:$TEST_NGINX_REDIS_PORT}
export BRIDGE_DOCKER_SOCKET=${BRIDGE_DOCKER_SOCKET:-$TEST_NGINX_DOCKER_SOCKET}
export BRIDGE_IMAGE=${BRIDGE_IMAGE:-$TEST_NGINX_SANDBOX_IMAGE}
export BRIDGE_MODULE=$SO
export BRIDGE_PREFIX=$RT/nginx
export BRIDGE_TOKEN_FILE=$RT/bridge-token
export BRIDGE_USER=${BRIDGE_USER:-$(id -un)}

# ---------------------------------------------------------------- egress
if [ -n "$BRIDGE_NETWORK" ]; then
    egress_up=1
    # shellcheck disable=SC2086
    DOCKER_HOST=unix://$BRIDGE_DOCKER_SOCKET "$ROOT/util/egress.sh" up \
        "$BRIDGE_NETWORK" "${BRIDGE_EGRESS_SUBNET:-198.19.0.0/24}" \
        ${BRIDGE_EGRESS_HOST_PORTS:-}
fi

# ---------------------------------------------------------------- token
psb_token_file "$BRIDGE_TOKEN_FILE"

# ---------------------------------------------------------------- config
mkdir -p "$BRIDGE_PREFIX"/{conf,logs,tmp}
"$ROOT/util/render-conf" "$TEMPLATE" "$BRIDGE_PREFIX/conf/nginx.conf"
if grep -qE '^[[:space:]]*daemon[[:space:]]' "$BRIDGE_PREFIX/conf/nginx.conf"; then
    die "$TEMPLATE must not set 'daemon' (run.sh passes -g 'daemon off;')"
fi
"$NGINX_BIN" -p "$BRIDGE_PREFIX/" -c conf/nginx.conf -g 'daemon off;' -t -q \
    || die "nginx -t failed for $BRIDGE_PREFIX/conf/nginx.conf"

# ---------------------------------------------------------------- run
cat <<INFO

  config:          $BRIDGE_PREFIX/conf/nginx.conf
  logs:            $BRIDGE_PREFIX/logs/
  redis:           $BRIDGE_REDIS
  docker:          unix://$BRIDGE_DOCKER_SOCKET  (image $BRIDGE_IMAGE)
  sandbox network: ${BRIDGE_NETWORK:-none}
  warm pool:       $BRIDGE_WARM_POOL per Docker host
  token file:      $BRIDGE_TOKEN_FILE

bridgeBaseUrl: http://127.0.0.1:$BRIDGE_PORT/api/paperclip-sandbox/v1
bridgeAuthToken: $token

metrics:         curl 127.0.0.1:$BRIDGE_PORT/metrics

(Ctrl-C to stop nginx and the services)
INFO

# nginx in the background + wait: the INT/TERM traps run immediately.
# (A background job of a non-interactive shell ignores SIGINT, so Ctrl-C
# reaches nginx only through cleanup(), which stops it gracefully.)
"$NGINX_BIN" -p "$BRIDGE_PREFIX/" -c conf/nginx.conf -g 'daemon off;' </dev/null &
nginx_pid=$!
rc=0
wait "$nginx_pid" || rc=$?
nginx_pid=
echo "run.sh: nginx exited with status $rc" >&2
exit "$rc"
