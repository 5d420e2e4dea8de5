#!/usr/bin/env bash
# Build the Dockerfile's image and run it, without any registry (`make test-image`):
#
#   1. private redis + dockerd (util/services.sh, PSB_INSTANCE=image)
#   2. base image psb-debian:bookworm from Debian's packages (util/base-image.sh:
#      debootstrap minbase, cached under build/image/, docker import)
#   3. docker build --network host --build-arg DEBIAN_IMAGE=psb-debian:bookworm
#      (the private dockerd has no bridge, so RUN steps use the host's network)
#   4. docker run --network host with the private docker.sock mounted and a
#      token file, GET /health with the bearer token -> 200 "ok":true
#   5. remove the container; stop the services (their data dir, images
#      included, goes with them)
#
# Environment: PSB_IMAGE_TAG (psb-bridge:test), PSB_BUILD_NETWORK (host).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$ROOT"
export PSB_INSTANCE=image
BASE=psb-debian:bookworm
TAG=${PSB_IMAGE_TAG:-psb-bridge:test}
NET=${PSB_BUILD_NETWORK:-host}
NAME=psb-bridge-test-$$
LOGDIR=$ROOT/build/image

log() { echo "test-image: $*" >&2; }
die() { echo "test-image: FAIL: $*" >&2; exit 1; }

T=$(mktemp -d /tmp/psb-test-image.XXXXXX)
chmod 0755 "$T"
services_started=0
container=
t_start=$SECONDS
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$container" ]; then
        [ "$rc" = 0 ] || timeout 30 docker logs "$container" 2>&1 | tail -n 30 >&2 || true
        timeout 60 docker rm -f "$container" >/dev/null 2>&1 || rc=1
    fi
    if [ "$services_started" = 1 ]; then
        util/services.sh stop || rc=1
    fi
    rm -rf "$T"
    [ "$rc" = 0 ] && log "PASS in $((SECONDS - t_start))s" || log "failed (rc $rc)"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step() { STEP=$1; STEP_T0=$SECONDS; log "$1 ..."; }
done_step() { log "$STEP: $((SECONDS - STEP_T0))s"; }

# --- 1. services ---------------------------------------------------------------------
step services
util/services.sh status -q || { services_started=1; util/services.sh start; }
# shellcheck disable=SC1090,SC1091
. "$ROOT/build/services-image.env"
export DOCKER_HOST
SOCK=$TEST_NGINX_DOCKER_SOCKET
done_step

# --- 2. base image -------------------------------------------------------------------
step "base image $BASE"
util/base-image.sh "$BASE"
done_step

# --- 3. docker build -------------------------------------------------------------------
step "docker build $TAG"
mkdir -p "$LOGDIR"
if ! timeout 1200 docker build --network "$NET" --force-rm \
        --build-arg DEBIAN_IMAGE="$BASE" -t "$TAG" . >"$LOGDIR/docker-build.log" 2>&1; then
    tail -n 40 "$LOGDIR/docker-build.log" >&2
    die "docker build failed (log: build/image/docker-build.log)"
fi
done_step

# --- 4. run + health ----------------------------------------------------------------------
step "docker run + /health"
port=18580
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    port=$((port + 1)); [ "$port" -lt 18680 ] || die "no free port in 18580..18679"
done
token=$(openssl rand -hex 24)
(umask 077; printf '%s\n' "$token" > "$T/token")
container=$(docker run -d --name "$NAME" --network host \
    -v "$SOCK:/var/run/docker.sock" \
    -v "$T/token:/run/secrets/bridge-token:ro" \
    -e BRIDGE_AUTH_TOKEN_FILE=/run/secrets/bridge-token \
    -e BRIDGE_REDIS="$TEST_NGINX_REDIS_HOST:$TEST_NGINX_REDIS_PORT" \
    -e BRIDGE_IMAGE="$TEST_NGINX_SANDBOX_IMAGE" \
    -e BRIDGE_PORT="$port" \
    "$TAG")
url=http://127.0.0.1:$port/api/paperclip-sandbox/v1/health
code=000
for _ in $(seq 1 60); do
    code=$(curl -s -o "$T/health.json" -w '%{http_code}' --max-time 5 \
               -H "Authorization: Bearer $token" "$url" || true)
    [ "$code" = 200 ] && break
    [ "$(docker inspect -f '{{.State.Running}}' "$container" 2>/dev/null)" = true ] \
        || die "container exited"
    sleep 0.5
done
[ "$code" = 200 ] || die "GET /health: HTTP $code $(cat "$T/health.json" 2>/dev/null)"
grep -q '"ok":true' "$T/health.json" || die "health body without \"ok\":true: $(cat "$T/health.json")"
log "GET /health -> 200 $(cat "$T/health.json")"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url" || true)
[ "$code" = 401 ] || die "GET /health without a token: HTTP $code, want 401"
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$TAG" | sed 's/^/test-image: image /' >&2
# graceful stop (STOPSIGNAL SIGQUIT)
timeout 60 docker stop -t 20 "$container" >/dev/null || die "docker stop failed"
done_step
