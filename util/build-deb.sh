#!/usr/bin/env bash
# Build the Debian package libnginx-mod-http-sandbox-bridge with Debian's own
# tooling for nginx modules (dh-sequence-nginx / dh_nginx from nginx-dev).
#
#   util/build-deb.sh        -> build/deb/libnginx-mod-http-sandbox-bridge_<ver>-<rev>_<arch>.deb
#
# The packaging lives in util/debian/ (the repository has no top-level
# debian/).  A staging tree build/deb/<pkg>-<ver>/ gets the module sources
# (config, src/), README.md, conf-examples/, util/psb-sign and util/debian/
# as debian/, plus a debian/changelog written here: the upstream version is
# NGX_HTTP_SANDBOX_BRIDGE_VERSION from src/ngx_http_sandbox_bridge_module.h.
#
# Environment: DEB_REVISION (default 1), DEB_OUT (default build/deb),
# DEB_BUILD_OPTIONS (passed on; parallel=<nproc> is added).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
PKG=libnginx-mod-http-sandbox-bridge
HDR=$ROOT/src/ngx_http_sandbox_bridge_module.h
OUT=${DEB_OUT:-$ROOT/build/deb}
REV=${DEB_REVISION:-1}

die() { echo "build-deb.sh: error: $*" >&2; exit 1; }

for t in dpkg-buildpackage dh dh_nginx; do
    command -v "$t" >/dev/null || die "$t missing (util/deps.sh deb)"
done
[ -f "$HDR" ] || die "$HDR missing"

UPSTREAM=$(sed -nE 's/^#define[[:space:]]+NGX_HTTP_SANDBOX_BRIDGE_VERSION[[:space:]]+"([^"]+)".*/\1/p' "$HDR")
[[ "$UPSTREAM" =~ ^[0-9][A-Za-z0-9.+~]*$ ]] \
    || die "cannot read NGX_HTTP_SANDBOX_BRIDGE_VERSION from $HDR (got '$UPSTREAM')"
VERSION=$UPSTREAM-$REV
ARCH=$(dpkg-architecture -qDEB_HOST_ARCH)
DEB=$OUT/${PKG}_${VERSION}_${ARCH}.deb

STAGE=$OUT/$PKG-$UPSTREAM
LOG=$OUT/build.log
mkdir -p "$OUT"
rm -rf "$STAGE"
rm -f "$OUT/${PKG}"_*.deb "$OUT/${PKG}"-dbgsym_*.deb "$OUT/${PKG}"_*.buildinfo "$OUT/${PKG}"_*.changes
trap 'rm -rf "$STAGE"' EXIT

# --- staging tree ----------------------------------------------------------------
mkdir -p "$STAGE/util"
cp -a "$ROOT/config" "$ROOT/src" "$ROOT/docs" "$ROOT/README.md" "$ROOT/conf-examples" "$STAGE/"
cp -a "$ROOT/util/psb-sign" "$ROOT/util/lua2h.sh" "$ROOT/util/json2h.sh" "$STAGE/util/"
cp -a "$ROOT/util/debian" "$STAGE/debian"

# changelog date: the last commit's (reproducible), else now
when=$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
cat > "$STAGE/debian/changelog" <<EOF
$PKG ($VERSION) unstable; urgency=medium

  * Built from nginx-sandbox-bridge $UPSTREAM (commit $commit).

 -- nginx-sandbox-bridge maintainers <maintainers@nginx-sandbox-bridge.invalid>  $(LC_ALL=C date -u -R -d "@$when")
EOF

# --- build -------------------------------------------------------------------------
# -b: binary only; outputs land in $OUT (the staging tree's parent).
export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:+$DEB_BUILD_OPTIONS }parallel=$(nproc 2>/dev/null || echo 2)"
echo "build-deb.sh: building $PKG $VERSION (log: ${LOG#"$ROOT"/})"
if ! (cd "$STAGE" && dpkg-buildpackage -b --no-sign) >"$LOG" 2>&1; then
    tail -n 40 "$LOG" >&2
    die "dpkg-buildpackage failed (full log: $LOG)"
fi
[ -f "$DEB" ] || die "build finished but $DEB is missing"
echo "build-deb.sh: OK $DEB"
