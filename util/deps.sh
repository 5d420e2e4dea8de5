#!/usr/bin/env bash
# Install the Debian packages the project needs, but only if some are missing.
#
#   util/deps.sh [SET...]     SET: build (default: all of build+test), test,
#                             asan, valgrind, deb, image, runsc,
#                             podman, all
#
# Idempotent and cheap when everything is present: one `dpkg-query` call, no
# network.  When something is missing it runs `apt-get update` once and
# `apt-get install -y --no-install-recommends` for the missing packages only.
set -euo pipefail

# Needed to build the module against Debian's nginx-dev tree and smoke-test it.
PKGS_build=(
    nginx nginx-dev libhiredis-dev libjansson-dev libssl-dev libpcre2-dev
    zlib1g-dev build-essential dpkg-dev curl ca-certificates openssl perl
)
# Needed to run the test suite and `make run` (private redis + dockerd, the
# busybox sandbox image, the Perl harness dependencies, bench tools, the
# OpenAPI checks of t/211-openapi.t).
PKGS_test=(
    redis-server redis-tools docker.io busybox-static procps tar
    libtest-base-perl libtest-longstring-perl libtext-diff-perl
    libipc-run-perl liburi-perl libwww-perl libhttp-message-perl
    liblist-moreutils-perl libnginx-mod-http-echo wrk apache2-utils
    clang libclang-rt-14-dev python3-prometheus-client python3
    python3-jsonschema
)
# `make nginx-asan`: apt-get source needs dpkg-dev (+ xz-utils via dpkg-dev).
PKGS_asan=( dpkg-dev xz-utils libpcre2-dev zlib1g-dev libssl-dev build-essential )
# `make test-valgrind`
PKGS_valgrind=( valgrind )
# `make deb`: Debian's tooling for nginx modules (dh-sequence-nginx is
# provided by nginx-dev)
PKGS_deb=(
    build-essential debhelper dpkg-dev fakeroot nginx nginx-dev libhiredis-dev
    libjansson-dev libssl-dev
)
# `make test-image`: a base image made from Debian's packages, no registry
PKGS_image=( debootstrap docker.io curl tar )
# `make test-runsc` / BRIDGE_RUNTIME=runsc make run: gVisor (not by default)
PKGS_runsc=( runsc )
# `make test-podman`: podman's Docker-compatible API; catatonit is the
# init of containers with HostConfig.Init (only a Recommends of podman)
PKGS_podman=( podman catatonit )

sets=("$@")
[ ${#sets[@]} -gt 0 ] || sets=(build test)

want=()
for s in "${sets[@]}"; do
    case "$s" in
        build)    want+=("${PKGS_build[@]}") ;;
        test)     want+=("${PKGS_test[@]}") ;;
        asan)     want+=("${PKGS_asan[@]}") ;;
        valgrind) want+=("${PKGS_valgrind[@]}") ;;
        deb)      want+=("${PKGS_deb[@]}") ;;
        image)    want+=("${PKGS_image[@]}") ;;
        runsc)    want+=("${PKGS_runsc[@]}") ;;
        podman)   want+=("${PKGS_podman[@]}") ;;
        all)      want+=("${PKGS_build[@]}" "${PKGS_test[@]}" "${PKGS_asan[@]}" "${PKGS_valgrind[@]}"
                         "${PKGS_deb[@]}" "${PKGS_image[@]}" "${PKGS_runsc[@]}"
                         "${PKGS_podman[@]}") ;;
        *) echo "deps.sh: unknown package set '$s'" >&2; exit 2 ;;
    esac
done
# de-duplicate, keep order
mapfile -t want < <(printf '%s\n' "${want[@]}" | awk '!seen[$0]++')

# One dpkg-query call for all of them (much cheaper than N x `dpkg -s`).
# Packages that are not known at all are reported on stderr and simply do not
# appear in the output.
installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${want[@]}" 2>/dev/null \
            | awk '$2 == "installed" { print $1 }' || true)

missing=()
for p in "${want[@]}"; do
    grep -qxF "$p" <<<"$installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "deps.sh: installing missing packages: ${missing[*]}" >&2

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "deps.sh: not root and no sudo; please install: ${missing[*]}" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
