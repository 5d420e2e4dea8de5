#!/usr/bin/env bash
# Make a Debian base image without any registry: debootstrap --variant=minbase
# from Debian's mirror into a directory, then `docker import`.
#
#   util/base-image.sh [-f] [TAG]      (TAG default psb-debian:bookworm)
#
# The rootfs tarball is cached as build/image/debian-<suite>-minbase.tar and
# reused (-f or deleting it makes a new one; the Dockerfile's apt-get update
# fetches current package lists either way).  Uses DOCKER_HOST from the
# environment; does nothing when TAG already exists there (unless -f).
#
# Environment: DEBIAN_SUITE (bookworm), DEBIAN_MIRROR
# (http://deb.debian.org/debian), DEBIAN_SECURITY_MIRROR
# (http://deb.debian.org/debian-security).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
force=0
if [ "${1:-}" = "-f" ]; then force=1; shift; fi
SUITE=${DEBIAN_SUITE:-bookworm}
TAG=${1:-psb-debian:$SUITE}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
CACHE=$ROOT/build/image
TARBALL=$CACHE/debian-$SUITE-minbase.tar

log() { echo "base-image.sh: $*" >&2; }
die() { echo "base-image.sh: error: $*" >&2; exit 1; }

command -v docker >/dev/null || die "docker CLI missing (util/deps.sh image)"
[ "$(id -u)" = 0 ] || die "needs root (debootstrap)"

if [ "$force" = 0 ] && docker image inspect "$TAG" >/dev/null 2>&1; then
    exit 0
fi

# --- rootfs tarball (cached) --------------------------------------------------------
if [ "$force" = 1 ] || [ ! -s "$TARBALL" ]; then
    command -v debootstrap >/dev/null || die "debootstrap missing (util/deps.sh image)"
    mkdir -p "$CACHE"
    work=$(mktemp -d "$CACHE/rootfs.XXXXXX")
    # debootstrap mounts proc/sys in the target; never delete through a mount
    cleanup() {
        local m
        while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(
            awk -v d="$work" 'index($5, d "/") == 1 { print length($5) " " $5 }' /proc/self/mountinfo \
                | sort -rn | cut -d' ' -f2-)
        rm -rf --one-file-system "$work" "$TARBALL.tmp"
    }
    trap cleanup EXIT
    t0=$SECONDS
    log "debootstrap --variant=minbase $SUITE from $MIRROR"
    if ! debootstrap --variant=minbase "$SUITE" "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1; then
        tail -n 30 "$work/debootstrap.log" >&2
        die "debootstrap failed"
    fi
    r=$work/rootfs
    # the same apt sources as Debian's images (with updates and security)
    rm -f "$r/etc/apt/sources.list"
    cat > "$r/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    # container conventions of Debian's official images: no service starts
    # from maintainer scripts, no package cache or lists kept
    printf '#!/bin/sh\nexit 101\n' > "$r/usr/sbin/policy-rc.d"
    chmod 0755 "$r/usr/sbin/policy-rc.d"
    cat > "$r/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
EOF
    echo 'Acquire::Languages "none";' > "$r/etc/apt/apt.conf.d/docker-no-languages"
    # debootstrap installs from $SUITE alone: bring in updates + security
    cp /etc/resolv.conf "$r/etc/resolv.conf"
    mount -t proc proc "$r/proc"
    if ! chroot "$r" /bin/sh -c 'apt-get -q update && DEBIAN_FRONTEND=noninteractive apt-get -q -y upgrade' \
            >"$work/upgrade.log" 2>&1; then
        tail -n 30 "$work/upgrade.log" >&2
        die "apt-get upgrade in the rootfs failed"
    fi
    umount "$r/proc"
    rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/archives/*.deb "$r"/var/log/*.log \
           "$r"/var/log/apt/* "$r"/tmp/* "$r"/etc/hostname
    : > "$r/etc/resolv.conf"
    tar --numeric-owner --xattrs -C "$r" -cf "$TARBALL.tmp" .
    mv "$TARBALL.tmp" "$TARBALL"
    log "rootfs $(du -h "$TARBALL" | cut -f1) -> ${TARBALL#"$ROOT"/} in $((SECONDS - t0))s"
fi

# --- import --------------------------------------------------------------------------
docker import \
    -c 'CMD ["bash"]' \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -m "debootstrap --variant=minbase $SUITE" \
    "$TARBALL" "$TAG" >/dev/null
log "imported $TAG"
