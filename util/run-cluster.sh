#!/usr/bin/env bash
# A local cluster in the foreground (README "Local cluster"): util/cluster.sh
# (Redis primary + replica + three sentinels, two dockerds over TLS) and two
# nginx nodes with conf-examples/cluster.conf on BRIDGE_PORT and
# BRIDGE_PORT+1, one token.  Called by `make run-cluster` (builds first).
#
# Environment:
#   BRIDGE_PORT         first node's port (default 8080; the second is +1)
#   BRIDGE_AUTH_TOKEN   bearer token (default: generated, printed, kept in
#                       <rt>/bridge-token, mode 0600)
#   BRIDGE_TEMPLATE     config template (default conf-examples/cluster.conf)
#   NGINX_BIN           default /usr/sbin/nginx
#   PSB_INSTANCE        util/cluster.sh instance (default "run-cluster")
#
# Ctrl-C / SIGTERM (also to the make): both nodes are stopped, then the
# services; nothing is left running.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$ROOT"
MODNAME=ngx_http_sandbox_bridge_module
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
TEMPLATE=${BRIDGE_TEMPLATE:-$ROOT/conf-examples/cluster.conf}
export PSB_INSTANCE=${PSB_INSTANCE:-run-cluster}
BRIDGE_PORT=${BRIDGE_PORT:-8080}
SO=$ROOT/build/module/$MODNAME.so
CLUSTER=$ROOT/util/cluster.sh

die() { echo "run-cluster.sh: error: $*" >&2; exit 1; }
# shellcheck source=util/run-lib.sh
. "$ROOT/util/run-lib.sh"

[ -f "$SO" ] || die "$SO missing: run make build"
[ -f "$TEMPLATE" ] || die "config template $TEMPLATE not found"
case "$BRIDGE_PORT" in ''|*[!0-9]*) die "BRIDGE_PORT must be a number" ;; esac
PORTS="$BRIDGE_PORT $((BRIDGE_PORT + 1))"
for p in $PORTS; do
    psb_port_free "$p" || die "port $p is already in use (set BRIDGE_PORT)"
done

nginx_pids=()
started_cluster=0

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    psb_unwatch_parent
    if [ "${#nginx_pids[@]}" -gt 0 ]; then
        echo "run-cluster.sh: stopping the nginx nodes" >&2
        for pid in "${nginx_pids[@]}"; do psb_stop_nginx "$pid"; done
    fi
    if [ "$started_cluster" = 1 ]; then
        "$CLUSTER" stop || rc=1
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'echo >&2; exit 130' INT
trap 'exit 143' TERM
psb_watch_parent

# ---------------------------------------------------------------- services
if "$CLUSTER" status >/dev/null 2>&1; then
    echo "run-cluster.sh: reusing the running cluster '$PSB_INSTANCE'" >&2
else
    started_cluster=1
    "$CLUSTER" start
fi
# shellcheck disable=SC1090
. "$("$CLUSTER" env)"
RT=$CLUSTER_RUNTIME

export BRIDGE_MODULE=$SO
export BRIDGE_USER=${BRIDGE_USER:-$(id -un)}
export BRIDGE_SENTINELS=$CLUSTER_SENTINELS
export BRIDGE_REDIS_MASTER=$CLUSTER_MASTER
export BRIDGE_REDIS_PASSWORD_FILE=$CLUSTER_REDIS_PASSWORD_FILE
export BRIDGE_SENTINEL_PASSWORD_FILE=$CLUSTER_SENTINEL_PASSWORD_FILE
export BRIDGE_DOCKER_A=$CLUSTER_DOCKER1_TLS BRIDGE_DOCKER_B=$CLUSTER_DOCKER2_TLS
export BRIDGE_DOCKER_A_NAME=localhost BRIDGE_DOCKER_B_NAME=localhost
export BRIDGE_TLS_DIR=$CLUSTER_TLS_DIR
export BRIDGE_IMAGE=$TEST_NGINX_SANDBOX_IMAGE
export BRIDGE_TOKEN_FILE=$RT/bridge-token

# ---------------------------------------------------------------- token
psb_token_file "$BRIDGE_TOKEN_FILE"

# ---------------------------------------------------------------- config
# Both Docker hosts on every node where the build takes several
# sandbox_docker_location lines; the first alone otherwise.
render() {   # render <node dir> <port>
    BRIDGE_PREFIX=$1 BRIDGE_LISTEN=127.0.0.1:$2 \
        "$ROOT/util/render-conf" "$TEMPLATE" "$1/conf/nginx.conf"
    "$NGINX_BIN" -p "$1/" -c conf/nginx.conf -g 'daemon off;' -t -q 2>"$1/nginx-t.log"
}
i=0
for p in $PORTS; do
    i=$((i + 1))
    dir=$RT/node$i
    mkdir -p "$dir"/{conf,logs}
    export BRIDGE_MULTIHOST=1 BRIDGE_DOCKER_A_OPTS=" name=docker-a"
    if ! render "$dir" "$p"; then
        export BRIDGE_MULTIHOST= BRIDGE_DOCKER_A_OPTS=
        render "$dir" "$p" || { cat "$dir/nginx-t.log" >&2; die "nginx -t failed for $dir/conf/nginx.conf"; }
    fi
done
if [ -n "$BRIDGE_MULTIHOST" ]; then
    hosts="docker-a https://$BRIDGE_DOCKER_A, docker-b https://$BRIDGE_DOCKER_B"
else
    hosts="https://$BRIDGE_DOCKER_A (this build takes one Docker host per bridge)"
fi

# ---------------------------------------------------------------- run
i=0
for p in $PORTS; do
    i=$((i + 1))
    dir=$RT/node$i
    "$NGINX_BIN" -p "$dir/" -c conf/nginx.conf -g 'daemon off;' </dev/null &
    nginx_pids+=("$!")
done

echo
for p in $PORTS; do
    echo "node: http://127.0.0.1:$p/api/paperclip-sandbox/v1"
done
for s in ${CLUSTER_SENTINELS//,/ }; do
    echo "sentinel: $s master=$CLUSTER_MASTER"
done
cat <<INFO

  configs:      $RT/node1/conf/nginx.conf, $RT/node2/conf/nginx.conf
  logs:         $RT/node1/logs/, $RT/node2/logs/
  docker hosts: $hosts
  redis:        primary + replica on 127.0.0.1:${CLUSTER_REDIS_PORTS// /, 127.0.0.1:}
  token file:   $BRIDGE_TOKEN_FILE

bridgeBaseUrl: http://127.0.0.1:$BRIDGE_PORT/api/paperclip-sandbox/v1
bridgeAuthToken: $token

(Ctrl-C to stop both nodes and the services)
INFO

# either node exiting ends the cluster
rc=0
wait -n "${nginx_pids[@]}" || rc=$?
echo "run-cluster.sh: an nginx node exited with status $rc" >&2
exit "$rc"
