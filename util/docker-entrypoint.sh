#!/usr/bin/env bash
# Entrypoint of the Dockerfile's image: render the nginx config from the
# template with util/render-conf, then run nginx in the foreground.
#
# Environment (see Dockerfile):
#   BRIDGE_REDIS           host:port of Redis                        (required)
#   BRIDGE_DOCKER_SOCKET   Docker Engine socket inside the container
#                          (default /var/run/docker.sock, bind-mount it)
#   BRIDGE_IMAGE           sandbox image present on that daemon (default psb-sandbox:local)
#   BRIDGE_PORT            listen port (default 8080)
#   BRIDGE_AUTH_TOKEN      bearer token; or BRIDGE_AUTH_TOKEN_FILE (mounted
#                          secret, one token per line); else one is generated
#                          and printed once
#   BRIDGE_PREFIX          nginx runtime dir (default /var/lib/psb)
#   BRIDGE_TEMPLATE        template (default /etc/psb/quickstart.conf)
set -euo pipefail

: "${BRIDGE_PORT:=8080}"
: "${BRIDGE_DOCKER_SOCKET:=/var/run/docker.sock}"
: "${BRIDGE_IMAGE:=psb-sandbox:local}"
: "${BRIDGE_PREFIX:=/var/lib/psb}"
: "${BRIDGE_MODULE:=/usr/lib/nginx/modules/ngx_http_sandbox_bridge_module.so}"
: "${BRIDGE_TEMPLATE:=/etc/psb/quickstart.conf}"
: "${BRIDGE_USER:=root}"
export BRIDGE_PORT BRIDGE_DOCKER_SOCKET BRIDGE_IMAGE BRIDGE_PREFIX BRIDGE_MODULE BRIDGE_USER

if [ -z "${BRIDGE_REDIS:-}" ]; then
    echo "docker-entrypoint: set BRIDGE_REDIS=host:port" >&2
    exit 1
fi
export BRIDGE_REDIS

mkdir -p "$BRIDGE_PREFIX"/{conf,logs,tmp}
if [ -n "${BRIDGE_AUTH_TOKEN_FILE:-}" ]; then
    [ -r "$BRIDGE_AUTH_TOKEN_FILE" ] || { echo "docker-entrypoint: cannot read $BRIDGE_AUTH_TOKEN_FILE" >&2; exit 1; }
    export BRIDGE_TOKEN_FILE=$BRIDGE_AUTH_TOKEN_FILE
else
    export BRIDGE_TOKEN_FILE=$BRIDGE_PREFIX/bridge-token
    if [ -n "${BRIDGE_AUTH_TOKEN:-}" ]; then
        token=$BRIDGE_AUTH_TOKEN
    else
        token=$(openssl rand -hex 32)
        echo "bridgeAuthToken: $token"
    fi
    (umask 077; printf '%s\n' "$token" > "$BRIDGE_TOKEN_FILE")
fi
echo "bridgeBaseUrl: http://<host>:$BRIDGE_PORT/api/paperclip-sandbox/v1"

"${RENDER_CONF:-/usr/local/bin/render-conf}" "$BRIDGE_TEMPLATE" "$BRIDGE_PREFIX/conf/nginx.conf"
exec "${NGINX_BIN:-/usr/sbin/nginx}" -p "$BRIDGE_PREFIX/" -c conf/nginx.conf -g 'daemon off;' "$@"
