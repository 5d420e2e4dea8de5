#!/usr/bin/env bash
# Build the sandbox image psb-sandbox:local without any registry: a rootfs
# made of Debian's busybox-static plus a few directories, `docker import`ed.
#
#   util/build-image.sh [-f] [IMAGE]     (IMAGE default: psb-sandbox:local)
#
# Uses DOCKER_HOST from the environment (util/services.sh sets it).  Without
# -f it does nothing when the image already exists.
set -euo pipefail

force=0
if [ "${1:-}" = "-f" ]; then force=1; shift; fi
IMAGE=${1:-${PSB_IMAGE:-psb-sandbox:local}}
BUSYBOX=${BUSYBOX:-/bin/busybox}

die() { echo "build-image.sh: error: $*" >&2; exit 1; }

command -v docker >/dev/null || die "docker CLI missing (docker.io; make deps)"
[ -x "$BUSYBOX" ] || die "$BUSYBOX missing (busybox-static; make deps)"
# busybox (dynamic) and busybox-static both ship /bin/busybox; we need the
# static one inside an otherwise empty rootfs.
if command -v file >/dev/null && ! file -L "$BUSYBOX" | grep -q 'statically linked'; then
    die "$BUSYBOX is not statically linked (install busybox-static)"
fi

if [ "$force" = 0 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/psb-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,root,workspace,proc,sys,dev,tmp,var/tmp}
chmod 1777 "$rootfs/tmp" "$rootfs/var/tmp"
chmod 0700 "$rootfs/root"
chmod 0777 "$rootfs/workspace"

install -m 0755 "$BUSYBOX" "$rootfs/bin/busybox"
# one symlink per applet, at the path busybox itself reports (bin/sh, usr/bin/env, ...)
while read -r applet; do
    [ -n "$applet" ] || continue
    [ "$applet" = "bin/busybox" ] && continue
    mkdir -p "$rootfs/$(dirname "$applet")"
    ln -sf /bin/busybox "$rootfs/$applet"
done < <("$BUSYBOX" --list-full)
[ -L "$rootfs/bin/sh" ] || die "busybox has no sh applet?"

cat > "$rootfs/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > "$rootfs/etc/group" <<'G'
root:x:0:
nogroup:x:65534:
G
: > "$rootfs/etc/hosts"
: > "$rootfs/etc/resolv.conf"
echo sandbox > "$rootfs/etc/hostname"

tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -cf "$work/rootfs.tar" .
docker import \
    -c 'CMD ["sleep","infinity"]' \
    -c 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'WORKDIR /workspace' \
    -m "psb sandbox: busybox-static $(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || echo '?')" \
    "$work/rootfs.tar" "$IMAGE" >/dev/null
echo "build-image.sh: built $IMAGE" >&2
