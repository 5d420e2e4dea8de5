#!/usr/bin/env bash
# Build ngx_http_sandbox_bridge_module.so against Debian's nginx-dev tree
# (/usr/share/nginx/src) without touching /usr, the way Debian's own
# libnginx-mod-* packages are built (dh nginx_mod buildsystem).
#
#   util/build.sh            configure (only if needed) + make modules + smoke test
#   util/build.sh --no-smoke skip the `nginx -t` load test
#
# Layout (all under build/):
#   build/nginx-src/   private copy of /usr/share/nginx/src (re-copied when
#                      the installed nginx-dev changes)
#   build/module/      nginx --builddir: Makefile, objects, the .so
#   build/module/.configure-stamp   what the current configure was run with
#
# Environment: NGINX_SRC (default /usr/share/nginx/src), NGINX_BIN (default
# /usr/sbin/nginx, used for the smoke test), MAKE_JOBS (default: nproc).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$ROOT"

NGINX_SRC=${NGINX_SRC:-/usr/share/nginx/src}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
BUILD=$ROOT/build
SRC_COPY=$BUILD/nginx-src
BUILDDIR=$BUILD/module
MODNAME=ngx_http_sandbox_bridge_module
SO=$BUILDDIR/$MODNAME.so
SMOKE=1
[ "${1:-}" = "--no-smoke" ] && SMOKE=0

die() { echo "build.sh: error: $*" >&2; exit 1; }

[ -f "$ROOT/config" ] || die "no ./config in $ROOT"
[ -f "$NGINX_SRC/conf_flags" ] && [ -x "$NGINX_SRC/configure" ] \
    || die "$NGINX_SRC not found; install nginx-dev (make deps)"
command -v dpkg-buildflags >/dev/null || die "dpkg-buildflags missing (dpkg-dev; make deps)"

# --- every source/header named in ./config must exist --------------------------
# (they are written by other people; fail with a readable message, not a
# cryptic make error deep inside nginx's Makefile)
mapfile -t listed < <(grep -o '\$ngx_addon_dir/[A-Za-z0-9_./-]*\.[ch]\b' config \
                      | sed 's|^\$ngx_addon_dir/||' | sort -u)
[ ${#listed[@]} -gt 0 ] || die "config lists no sources"
missing=()
for f in "${listed[@]}"; do [ -f "$f" ] || missing+=("$f"); done
if [ ${#missing[@]} -gt 0 ]; then
    die "source files listed in ./config are missing: ${missing[*]}"
fi
# (a .c in src/ that config does not list is not an error, but say so)
for f in src/*.c; do
    [ -e "$f" ] || continue
    printf '%s\n' "${listed[@]}" | grep -qxF "$f" \
        || echo "build.sh: warning: $f is not listed in ./config (not compiled)" >&2
done

# --- 1. private copy of the nginx-dev tree --------------------------------------
# Re-copy when the installed nginx-dev version changes.
ngx_dev_version=$(dpkg-query -W -f='${Version}' nginx-dev 2>/dev/null || echo unknown)
if [ ! -f "$SRC_COPY/.psb-copied" ] || [ "$(cat "$SRC_COPY/.psb-copied")" != "$ngx_dev_version" ]; then
    echo "build.sh: copying $NGINX_SRC -> build/nginx-src (nginx-dev $ngx_dev_version)"
    rm -rf "$SRC_COPY" "$BUILDDIR"
    mkdir -p "$BUILD"
    rm -rf "$SRC_COPY.tmp.$$"
    cp -a "$NGINX_SRC" "$SRC_COPY.tmp.$$"
    mv "$SRC_COPY.tmp.$$" "$SRC_COPY"
    echo "$ngx_dev_version" > "$SRC_COPY/.psb-copied"
fi

# --- 2. configure (only when config, flags or nginx-dev changed) -----------------
# nginx's auto/cc/conf skips its own warning flags (incl. -Werror) when CFLAGS
# is set in the environment, so make sure it is not.
unset CFLAGS CPPFLAGS LDFLAGS CC_OPT LD_OPT
cc_opt="$(dpkg-buildflags --get CFLAGS) -fPIC $(dpkg-buildflags --get CPPFLAGS)"
ld_opt="$(dpkg-buildflags --get LDFLAGS) -fPIC"

stamp_want=$(
    {
        echo "root=$ROOT"
        echo "nginx-dev=$ngx_dev_version"
        echo "cc_opt=$cc_opt"
        echo "ld_opt=$ld_opt"
        cat "$SRC_COPY/conf_flags"
        cat "$ROOT/config" "$ROOT"/src/lua/*.lua "$ROOT/docs/openapi.json"
    } | sha256sum | cut -d' ' -f1
)
stamp_file=$BUILDDIR/.configure-stamp

if [ ! -f "$BUILDDIR/Makefile" ] || [ ! -f "$stamp_file" ] || [ "$(cat "$stamp_file")" != "$stamp_want" ]; then
    echo "build.sh: configuring (config or build flags changed)"
    rm -rf "$BUILDDIR"
    mkdir -p "$BUILDDIR"
    (
        cd "$SRC_COPY"
        # shellcheck disable=SC1091
        . ./conf_flags
        ./configure \
            --with-cc-opt="$cc_opt" \
            --with-ld-opt="$ld_opt" \
            "${NGX_CONF_FLAGS[@]}" \
            --add-dynamic-module="$ROOT" \
            --builddir="$BUILDDIR"
    ) > "$BUILD/configure.log" 2>&1 || {
        tail -n 40 "$BUILD/configure.log" >&2
        die "configure failed (full log: build/configure.log)"
    }
    grep -q -- '-Werror' "$BUILDDIR/Makefile" \
        || die "nginx's -Werror is missing from build/module/Makefile (CFLAGS set in env?)"
    echo "$stamp_want" > "$stamp_file"
fi

# --- 3. make modules ---------------------------------------------------------------
# nginx's generated Makefile makes each module object depend on its .c and on
# the headers listed in config (ngx_module_deps).  Headers in src/ that config
# does not list (e.g. ddebug.h) are not tracked, so if any header in src/ is
# newer than the .so, drop the module's objects to force a rebuild of them all.
# (A changed .c is tracked by nginx's Makefile itself.)
if [ -f "$SO" ]; then
    newer=$(find "$ROOT/src" -type f -name '*.h' -newer "$SO" -print -quit 2>/dev/null || true)
    if [ -n "$newer" ]; then
        find "$BUILDDIR/addon" -name '*.o' -delete 2>/dev/null || true
    fi
fi

jobs=${MAKE_JOBS:-$(nproc 2>/dev/null || echo 2)}
# MAKEFLAGS from an outer make (e.g. -n, -k, jobserver) must not leak into
# nginx's Makefile.
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
    make -j"$jobs" -f "$BUILDDIR/Makefile" -C "$SRC_COPY" modules
[ -f "$SO" ] || die "build finished but $SO is missing"

# --- 4. smoke test: does the stock nginx load it? ---------------------------------
if [ "$SMOKE" = 1 ]; then
    smoke=$BUILD/smoke.conf
    printf 'load_module %s;\nevents {}\n' "$SO" > "$smoke"
    if ! "$NGINX_BIN" -g 'error_log /dev/null; pid /dev/null;' -t -q -c "$smoke"; then
        die "smoke test failed: $NGINX_BIN cannot load $SO"
    fi
    echo "build.sh: OK $SO (loads into $NGINX_BIN)"
fi
