#!/usr/bin/env bash
# Build the agent sandbox image (util/sandbox-image/Dockerfile) without any
# registry: the Debian base from Debian's packages (util/base-image.sh:
# debootstrap minbase, docker import), then `docker build --network host`
# of the Dockerfile on it; apt-get and npm reach their registries through
# the host's network.
#
#   util/sandbox-image.sh [-f] [TAG]      (TAG default psb-agent:local)
#
# Builds into DOCKER_HOST; without it, into the private dockerd of
# `BRIDGE_SANDBOX=agent make run` (services instance run-agent) when that
# runs, else into a private dockerd started for the build and stopped
# after it (then only the cache below keeps the image).  Does nothing when
# TAG exists there (unless -f).  The built image is saved to
# build/image/sandbox-<key>.tar, key = hash of the Dockerfile, the base
# rootfs and AGENT_NPM_PACKAGES, and loaded from there next time
# (PSB_IMAGE_CACHE=0: no cache).
#
# Environment: AGENT_NPM_PACKAGES (npm packages installed -g at build time),
# NPM_REGISTRY, PSB_BUILD_NETWORK (host), EXTRA_CA_CERTS (PEM text the
# image trusts; default: the build host's own local CAs,
# /usr/local/share/ca-certificates/*.crt, so that npm in the build passes
# the same TLS-intercepting proxy as the host does; EXTRA_CA_CERTS=none:
# none).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
force=0
if [ "${1:-}" = "-f" ]; then force=1; shift; fi
TAG=${1:-psb-agent:local}
BASE=psb-debian:bookworm
CTX=$ROOT/util/sandbox-image
CACHE=$ROOT/build/image
NET=${PSB_BUILD_NETWORK:-host}
PKGS=${AGENT_NPM_PACKAGES:-}
if [ -z "${EXTRA_CA_CERTS:-}" ]; then
    EXTRA_CA_CERTS=$(cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true)
elif [ "$EXTRA_CA_CERTS" = none ]; then
    EXTRA_CA_CERTS=
fi

log() { echo "sandbox-image.sh: $*" >&2; }
die() { echo "sandbox-image.sh: error: $*" >&2; exit 1; }

command -v docker >/dev/null || die "docker CLI missing (util/deps.sh image)"
if [ -z "${DOCKER_HOST:-}" ]; then
    if PSB_INSTANCE=run-agent "$ROOT/util/services.sh" status -q; then
        # shellcheck disable=SC1090
        . "$(PSB_INSTANCE=run-agent "$ROOT/util/services.sh" env)"
    else
        export PSB_INSTANCE=sandbox-image
        unset PSB_SANDBOX
        trap '"$ROOT/util/services.sh" stop' EXIT
        "$ROOT/util/services.sh" start
        # shellcheck disable=SC1090
        . "$("$ROOT/util/services.sh" env)"
    fi
    export DOCKER_HOST
fi

if [ "$force" = 0 ] && docker image inspect "$TAG" >/dev/null 2>&1; then
    exit 0
fi

t0=$SECONDS
"$ROOT/util/base-image.sh" "$BASE"

mkdir -p "$CACHE"
key=$( { cat "$CTX/Dockerfile"; echo "npm:$PKGS"; echo "reg:${NPM_REGISTRY:-}"; echo "ca:$EXTRA_CA_CERTS";
         stat -c '%s %Y' "$CACHE/debian-${DEBIAN_SUITE:-bookworm}-minbase.tar" 2>/dev/null; } \
       | sha256sum | cut -c1-16)
saved=$CACHE/sandbox-$key.tar
if [ "${PSB_IMAGE_CACHE:-1}" = 1 ] && [ -s "$saved" ]; then
    docker load -q -i "$saved" >/dev/null
    docker tag "psb-agent-cache:$key" "$TAG"
    log "loaded $TAG from ${saved#"$ROOT"/} in $((SECONDS - t0))s"
    exit 0
fi

log "docker build $TAG${PKGS:+ (npm: $PKGS)}"
if ! timeout 1800 docker build --network "$NET" --force-rm \
        --build-arg DEBIAN_IMAGE="$BASE" \
        --build-arg AGENT_NPM_PACKAGES="$PKGS" \
        --build-arg NPM_REGISTRY="${NPM_REGISTRY:-}" \
        --build-arg EXTRA_CA_CERTS="$EXTRA_CA_CERTS" \
        -t "$TAG" -t "psb-agent-cache:$key" "$CTX" >"$CACHE/sandbox-build.log" 2>&1; then
    tail -n 40 "$CACHE/sandbox-build.log" >&2
    die "docker build failed (log: build/image/sandbox-build.log)"
fi
if [ "${PSB_IMAGE_CACHE:-1}" = 1 ]; then
    rm -f "$CACHE"/sandbox-*.tar
    docker save -o "$saved.tmp" "psb-agent-cache:$key" && mv "$saved.tmp" "$saved"
fi
log "built $TAG in $((SECONDS - t0))s, $(docker image inspect -f '{{.Size}}' "$TAG" \
    | awk '{ printf "%.0f MB", $1 / 1e6 }')"
