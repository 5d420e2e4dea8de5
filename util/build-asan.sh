#!/usr/bin/env bash
# Build a debug + AddressSanitizer nginx 1.22.1 from Debian's source package,
# with this module as a dynamic module.
#
#   build/asan-src/                Debian source (apt-get source), cached
#   build/asan/sbin/nginx          the ASan nginx  (--prefix=build/asan)
#   build/asan/modules/ngx_http_sandbox_bridge_module.so
#
# Run the result with ASAN_OPTIONS=detect_odr_violation=0 (every dynamic
# module's generated *_modules.c defines ngx_module_names; ASan reports the
# clash as an ODR violation at load time).
#
# Environment: NGINX_SRC_VERSION (default 1.22.1-9+deb12u9; plain
# `apt-get source nginx` 404s on the security snapshot), MAKE_JOBS (default 2).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$ROOT"

VERSION=${NGINX_SRC_VERSION:-1.22.1-9+deb12u9}
UPSTREAM=${VERSION%%-*}                 # 1.22.1
SRCROOT=$ROOT/build/asan-src
SRCDIR=$SRCROOT/nginx-$UPSTREAM
PREFIX=$ROOT/build/asan
MODNAME=ngx_http_sandbox_bridge_module

die() { echo "build-asan.sh: error: $*" >&2; exit 1; }

SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo)

# --- 1. deb-src entries ---------------------------------------------------------
have_deb_src() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        grep -qE '^[[:space:]]*(deb-src[[:space:]]|Types:.*deb-src)' "$f" && return 0
    done
    return 1
}
ensure_deb_src() {
    have_deb_src && return 0
    local f=/etc/apt/sources.list.d/psb-debian-src.sources
    echo "build-asan.sh: no deb-src entries; writing $f" >&2
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        # deb822: same stanzas, Types: deb-src
        sed -E 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
            | "${SUDO[@]}" tee "$f" >/dev/null
    elif grep -qsE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list; then
        f=/etc/apt/sources.list.d/psb-debian-src.list
        sed -nE 's/^[[:space:]]*deb([[:space:]])/deb-src\1/p' /etc/apt/sources.list \
            | "${SUDO[@]}" tee "$f" >/dev/null
    else
        "${SUDO[@]}" tee "$f" >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    fi
    "${SUDO[@]}" apt-get update
}

# --- 2. fetch + unpack the source once ---------------------------------------------
if [ ! -f "$SRCROOT/.psb-fetched-$VERSION" ] || [ ! -x "$SRCDIR/configure" ]; then
    ensure_deb_src
    rm -rf "$SRCROOT"
    mkdir -p "$SRCROOT"
    (
        cd "$SRCROOT"
        # apt-get source as root warns that the download is unsandboxed; harmless.
        if ! apt-get source "nginx=$VERSION"; then
            # deb-src present but its index may be stale
            "${SUDO[@]}" apt-get update
            apt-get source "nginx=$VERSION"
        fi
    ) || die "apt-get source nginx=$VERSION failed"
    [ -x "$SRCDIR/configure" ] || die "$SRCDIR/configure missing after apt-get source"
    touch "$SRCROOT/.psb-fetched-$VERSION"
fi

# --- 3. configure when config / flags changed ---------------------------------------
unset CFLAGS CPPFLAGS LDFLAGS
CC_OPT='-O1 -g -fno-omit-frame-pointer -fsanitize=address -DNGX_DEBUG_PALLOC=1'
# -z nodelete: nginx dlclose()s modules when a cycle is freed, i.e. before
# the exit-time leak check runs; keeping the .so mapped lets LSan symbolize
# the module's frames instead of printing "(<unknown module>)".  (For the
# nginx executable itself the flag is meaningless and ignored.)
LD_OPT='-fsanitize=address -Wl,-z,nodelete'
CONF_ARGS=(
    --prefix="$PREFIX"
    --with-debug --with-compat --with-threads
    --with-http_ssl_module --with-http_auth_request_module
    --with-cc-opt="$CC_OPT" --with-ld-opt="$LD_OPT"
    --add-dynamic-module="$ROOT"
)
stamp_want=$( { printf '%s\n' "$VERSION" "${CONF_ARGS[@]}"; cat "$ROOT/config" "$ROOT"/src/lua/*.lua "$ROOT/docs/openapi.json"; } | sha256sum | cut -d' ' -f1)
stamp=$SRCDIR/objs/.psb-configure-stamp
if [ ! -f "$SRCDIR/objs/Makefile" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$stamp_want" ]; then
    echo "build-asan.sh: configuring nginx $VERSION (ASan)"
    ( cd "$SRCDIR" && ./configure "${CONF_ARGS[@]}" ) > "$ROOT/build/asan-configure.log" 2>&1 || {
        tail -n 40 "$ROOT/build/asan-configure.log" >&2
        die "configure failed (build/asan-configure.log)"
    }
    echo "$stamp_want" > "$stamp"
fi

# Headers in src/ that config does not list are not tracked by nginx's
# Makefile: force the module objects to rebuild when one is newer.
so_built=$SRCDIR/objs/$MODNAME.so
if [ -f "$so_built" ] && [ -n "$(find "$ROOT/src" -type f -name '*.h' -newer "$so_built" -print -quit)" ]; then
    find "$SRCDIR/objs/addon" -name '*.o' -delete 2>/dev/null || true
fi

# --- 4. build + install into build/asan ---------------------------------------------
jobs=${MAKE_JOBS:-2}
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$SRCDIR" -j"$jobs"
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$SRCDIR" install >/dev/null

[ -x "$PREFIX/sbin/nginx" ] || die "$PREFIX/sbin/nginx missing"
[ -f "$PREFIX/modules/$MODNAME.so" ] || die "$PREFIX/modules/$MODNAME.so missing"

# --- 5. smoke test -------------------------------------------------------------------
printf 'load_module %s;\nevents {}\n' "$PREFIX/modules/$MODNAME.so" > "$ROOT/build/asan-smoke.conf"
ASAN_OPTIONS=detect_odr_violation=0:detect_leaks=0 \
    "$PREFIX/sbin/nginx" -p "$PREFIX/" -g 'error_log /dev/null; pid /dev/null;' -t -q \
    -c "$ROOT/build/asan-smoke.conf" || die "ASan nginx cannot load the module"
echo "build-asan.sh: OK $PREFIX/sbin/nginx + modules/$MODNAME.so"
