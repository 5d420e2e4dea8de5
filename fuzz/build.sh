#!/usr/bin/env bash
# Build the module's libFuzzer harnesses with clang, ASan and UBSan.
#
#   fuzz/build.sh                      all harnesses -> build/fuzz/bin/
#   fuzz/build.sh fuzz_sse fuzz_demux  a subset
#
# A harness links
#   * its fuzz/<name>.c and fuzz/psb_fuzz.c (the runtime nginx would give),
#   * the module's src/*.c (minus the few a harness replaces, see EXCLUDE),
#   * a few nginx core files (strings, pools, arrays, lists, times, alloc)
#     compiled with the same flags from nginx's own source, configured once,
#   * generated stubs for every other nginx function the module refers to:
#     each one aborts with its name if a harness ever reaches it,
#   * -ljansson -lhiredis -lcrypto.
#
# Nothing of nginx is in the repository. The source comes from, in order:
#   $NGINX_SRC                       an unpacked nginx tree, used read-only
#   build/asan-src/nginx-<version>   the cache util/build-asan.sh keeps;
#                                    filled here the same way when missing
#                                    (deb-src entry + apt-get source)
#
# Environment: FUZZ_CC (default clang-14, else clang), FUZZ_BUILD (default
# build/fuzz), NGINX_SRC, NGINX_SRC_VERSION (default 1.22.1-9+deb12u9),
# FUZZ_UBSAN=0 (ASan only), FUZZ_JOBS (parallel compiles, default 2).
set -euo pipefail

FUZZ=$(cd "$(dirname "$0")" && pwd -P)
ROOT=$(cd "$FUZZ/.." && pwd -P)
OUT=${FUZZ_BUILD:-$ROOT/build/fuzz}
VERSION=${NGINX_SRC_VERSION:-1.22.1-9+deb12u9}
UPSTREAM=${VERSION%%-*}
JOBS=${FUZZ_JOBS:-2}

ALL_HARNESSES="fuzz_request fuzz_auth fuzz_demux fuzz_sse fuzz_redis"

# module objects a harness does not link: it defines (or #includes) them
# (fuzz_request, fuzz_auth and fuzz_redis #include redis.c with its two
# entry points renamed, fuzz_redis reap.c and sweep.c; fuzz_redis
# replaces kill.c's one entry point)
declare -A EXCLUDE=(
    [fuzz_request]="redis"
    [fuzz_auth]="redis"
    [fuzz_demux]=""
    [fuzz_sse]=""
    [fuzz_redis]="redis docker reap sweep kill"
)

# the nginx core files the module really uses (no event loop, no HTTP core)
CORE_SRCS="
    src/core/ngx_string.c
    src/core/ngx_palloc.c
    src/core/ngx_array.c
    src/core/ngx_list.c
    src/core/ngx_buf.c
    src/core/ngx_times.c
    src/os/unix/ngx_alloc.c
    src/os/unix/ngx_time.c
"

# nginx is configured only for its generated headers
NGX_CONF_ARGS="--with-debug --with-compat --with-threads
    --with-http_ssl_module --with-http_auth_request_module
    --without-http_rewrite_module --without-http_gzip_module --without-pcre"

die() { echo "fuzz/build.sh: error: $*" >&2; exit 1; }
say() { echo "fuzz/build.sh: $*"; }

SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo)

# --- 1. toolchain and libraries ----------------------------------------------

if [ -z "${FUZZ_CC:-}" ]; then
    if command -v clang-14 >/dev/null 2>&1; then
        FUZZ_CC=clang-14
    else
        FUZZ_CC=clang
    fi
fi
CC=$FUZZ_CC

have_fuzzer() {
    command -v "$CC" >/dev/null 2>&1 || return 1
    local t
    t=$(mktemp -d)
    printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
        '{ return 0; }' > "$t/t.c"
    "$CC" -fsanitize=fuzzer,address,undefined "$t/t.c" -o "$t/t" \
        >/dev/null 2>&1
    local rc=$?
    rm -rf "$t"
    return $rc
}

have_libs() {
    [ -f /usr/include/jansson.h ] && [ -f /usr/include/hiredis/hiredis.h ] \
        && [ -f /usr/include/openssl/evp.h ]
}

if ! have_fuzzer || ! have_libs; then
    say "installing clang-14, libclang-rt-14-dev and the -dev packages"
    "${SUDO[@]}" apt-get install -y --no-install-recommends clang-14 \
        libclang-rt-14-dev libjansson-dev libhiredis-dev libssl-dev \
        || { "${SUDO[@]}" apt-get update && "${SUDO[@]}" apt-get install -y \
                 --no-install-recommends clang-14 libclang-rt-14-dev \
                 libjansson-dev libhiredis-dev libssl-dev; }
    command -v "$CC" >/dev/null 2>&1 || CC=clang-14
    have_fuzzer || die "$CC cannot build a libFuzzer + ASan + UBSan binary"
    have_libs || die "jansson, hiredis or OpenSSL headers missing"
fi

# --- 2. nginx source ---------------------------------------------------------

have_deb_src() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
             /etc/apt/sources.list.d/*.sources
    do
        [ -f "$f" ] || continue
        grep -qE '^[[:space:]]*(deb-src[[:space:]]|Types:.*deb-src)' "$f" \
            && return 0
    done
    return 1
}

# the same entries util/build-asan.sh writes
ensure_deb_src() {
    have_deb_src && return 0
    local f=/etc/apt/sources.list.d/psb-debian-src.sources
    say "no deb-src entries; writing $f"
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        sed -E 's/^Types:.*/Types: deb-src/' \
            /etc/apt/sources.list.d/debian.sources \
            | "${SUDO[@]}" tee "$f" >/dev/null
    elif grep -qsE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list; then
        f=/etc/apt/sources.list.d/psb-debian-src.list
        sed -nE 's/^[[:space:]]*deb([[:space:]])/deb-src\1/p' \
            /etc/apt/sources.list | "${SUDO[@]}" tee "$f" >/dev/null
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

if [ -n "${NGINX_SRC:-}" ]; then
    NGX_SRC=$(cd "$NGINX_SRC" && pwd -P)
else
    SRCROOT=$ROOT/build/asan-src
    NGX_SRC=$SRCROOT/nginx-$UPSTREAM
    if [ ! -f "$SRCROOT/.psb-fetched-$VERSION" ] \
       || [ ! -x "$NGX_SRC/configure" ]
    then
        command -v dpkg-source >/dev/null 2>&1 \
            || "${SUDO[@]}" apt-get install -y --no-install-recommends dpkg-dev
        ensure_deb_src
        rm -rf "$SRCROOT"
        mkdir -p "$SRCROOT"
        (
            cd "$SRCROOT"
            # as root apt-get warns that the download is unsandboxed
            if ! apt-get source "nginx=$VERSION"; then
                "${SUDO[@]}" apt-get update
                apt-get source "nginx=$VERSION"
            fi
        ) || die "apt-get source nginx=$VERSION failed"
        [ -x "$NGX_SRC/configure" ] \
            || die "$NGX_SRC/configure missing after apt-get source"
        touch "$SRCROOT/.psb-fetched-$VERSION"
    fi
fi

if [ ! -f "$NGX_SRC/src/core/ngx_string.c" ] || [ ! -x "$NGX_SRC/configure" ]
then
    die "$NGX_SRC is not an nginx source tree"
fi

# --- 3. a private configured copy (configure writes into its tree) -----------

NGX=$OUT/nginx
mkdir -p "$OUT"

conf_want=$( { echo "$NGX_SRC" "$CC"; echo "$NGX_CONF_ARGS";
               cat "$NGX_SRC/src/core/nginx.h"; } | sha256sum | cut -d' ' -f1)

if [ ! -f "$NGX/objs/ngx_auto_config.h" ] \
   || [ "$(cat "$NGX/.psb-conf" 2>/dev/null)" != "$conf_want" ]
then
    say "configuring a copy of $NGX_SRC in $NGX"
    rm -rf "$NGX"
    mkdir -p "$NGX"
    cp -a "$NGX_SRC/auto" "$NGX_SRC/src" "$NGX_SRC/conf" \
          "$NGX_SRC/configure" "$NGX/"
    # shellcheck disable=SC2086
    ( cd "$NGX" && ./configure --with-cc="$CC" $NGX_CONF_ARGS ) \
        > "$OUT/nginx-configure.log" 2>&1 || {
        tail -n 30 "$OUT/nginx-configure.log" >&2
        die "nginx configure failed ($OUT/nginx-configure.log)"
    }
    echo "$conf_want" > "$NGX/.psb-conf"
fi

# --- 4. flags ----------------------------------------------------------------

if [ "${FUZZ_UBSAN:-1}" = 0 ]; then
    SAN="-fsanitize=address"
else
    SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
fi

BASE="-g -O1 -fno-omit-frame-pointer -DNGX_DEBUG_PALLOC=1 $SAN"
INCS="-I$NGX/src/core -I$NGX/src/event -I$NGX/src/event/modules
      -I$NGX/src/os/unix -I$NGX/objs -I$NGX/src/http -I$NGX/src/http/modules
      -I$OUT/gen -I$ROOT/src -I$FUZZ"
WARN="-Wall -Wextra -Wno-unused-parameter -Wno-sign-compare
      -Wno-missing-field-initializers"
# coverage feedback for the module and the harnesses, not for nginx itself
COV="-fsanitize=fuzzer-no-link"

CORE_FLAGS="$BASE -w $INCS"
MOD_FLAGS="$BASE $COV $WARN $INCS"
LINK_FLAGS="$SAN -fsanitize=fuzzer"
LIBS="-ljansson -lhiredis -lcrypto -lm"

# objects are rebuilt when their source, any header or the flags changed
mkdir -p "$OUT/obj/core" "$OUT/obj/module" "$OUT/obj/fuzz" "$OUT/bin" \
         "$OUT/gen"

# the Redis scripts (src/lua/*.lua) as the C header store.c includes,
# generated as the module's build does; rewritten only when it changes
LUA_H=$OUT/gen/ngx_http_sandbox_bridge_lua.h
sh "$ROOT/util/lua2h.sh" "$ROOT/src/lua" > "$LUA_H.new" \
    || die "util/lua2h.sh failed"
if cmp -s "$LUA_H.new" "$LUA_H"; then
    rm -f "$LUA_H.new"
else
    mv "$LUA_H.new" "$LUA_H"
fi

# the same for the OpenAPI document openapi.c serves
API_H=$OUT/gen/ngx_http_sandbox_bridge_openapi_json.h
sh "$ROOT/util/json2h.sh" "$ROOT/docs/openapi.json" > "$API_H.new" \
    || die "util/json2h.sh failed"
if cmp -s "$API_H.new" "$API_H"; then
    rm -f "$API_H.new"
else
    mv "$API_H.new" "$API_H"
fi

flags_now="$CC|$CORE_FLAGS|$MOD_FLAGS|$LINK_FLAGS|$LIBS"
[ "$(cat "$OUT/.psb-flags" 2>/dev/null)" = "$flags_now" ] \
    || echo "$flags_now" > "$OUT/.psb-flags"

# shellcheck disable=SC2012
HDR_REF=$(ls -t "$OUT/.psb-flags" "$NGX/objs/ngx_auto_config.h" \
              "$LUA_H" "$API_H" "$ROOT"/src/*.h "$FUZZ"/*.h | head -n 1)

# compile OUT SRC [EXTRA_DEP ...] -- FLAGS...
compile() {
    local out=$1 src=$2 dep
    shift 2
    local deps=()
    while [ "$1" != "--" ]; do deps+=("$1"); shift; done
    shift

    if [ -f "$out" ] && [ "$out" -nt "$src" ] && [ "$out" -nt "$HDR_REF" ]
    then
        local stale=0
        for dep in "${deps[@]}"; do
            [ "$out" -nt "$dep" ] || stale=1
        done
        [ $stale = 1 ] || return 0
    fi

    echo "  CC  ${src#"$ROOT"/}"
    # shellcheck disable=SC2068
    "$CC" -c $@ "$src" -o "$out"
}

wait_all() {
    local pid rc=0
    for pid in "$@"; do wait "$pid" || rc=1; done
    return $rc
}

# run "compile ..." commands JOBS at a time
pids=()
spawn() {
    "$@" &
    pids+=($!)
    if [ ${#pids[@]} -ge "$JOBS" ]; then
        wait_all "${pids[@]}" || die "compilation failed"
        pids=()
    fi
}

# --- 5. objects --------------------------------------------------------------

CORE_OBJS=()
for s in $CORE_SRCS; do
    o=$OUT/obj/core/$(basename "$s" .c).o
    CORE_OBJS+=("$o")
    # shellcheck disable=SC2086
    spawn compile "$o" "$NGX/$s" -- $CORE_FLAGS
done

declare -A MOD_OBJ
for s in "$ROOT"/src/*.c; do
    b=$(basename "$s" .c)
    short=${b#ngx_http_sandbox_bridge_}
    o=$OUT/obj/module/$b.o
    MOD_OBJ[$short]=$o
    # shellcheck disable=SC2086
    spawn compile "$o" "$s" -- $MOD_FLAGS
done

# shellcheck disable=SC2086
spawn compile "$OUT/obj/fuzz/psb_fuzz.o" "$FUZZ/psb_fuzz.c" -- $MOD_FLAGS

HARNESSES=${*:-$ALL_HARNESSES}
for h in $HARNESSES; do
    [ -f "$FUZZ/$h.c" ] || die "no harness $h (fuzz/$h.c)"
    [ -n "${EXCLUDE[$h]+x}" ] || die "no EXCLUDE entry for $h"
    # a harness may #include a module .c file: all of them are its deps
    # shellcheck disable=SC2086
    spawn compile "$OUT/obj/fuzz/$h.o" "$FUZZ/$h.c" "$ROOT"/src/*.c -- \
        $MOD_FLAGS
done

wait_all "${pids[@]}" || die "compilation failed"
pids=()

# --- 6. stubs and links ------------------------------------------------------

# "extern" in a header marks a variable; everything else missing is a function
is_data() {
    grep -rqsE "extern[^;(]*[ *]$1[[:space:]]*(\[|;)" \
        "$NGX/src" "$NGX/objs" "$ROOT/src" --include='*.h'
}

for h in $HARNESSES; do
    objs=("$OUT/obj/fuzz/$h.o" "$OUT/obj/fuzz/psb_fuzz.o" "${CORE_OBJS[@]}")
    for m in "${!MOD_OBJ[@]}"; do
        case " ${EXCLUDE[$h]} " in
            *" $m "*) ;;
            *) objs+=("${MOD_OBJ[$m]}") ;;
        esac
    done

    stubs=$OUT/obj/fuzz/${h}_stubs.c
    {
        echo "/* generated by fuzz/build.sh for $h: do not edit */"
        echo "void psb_fuzz_unreachable(const char *name);"
        comm -23 \
            <(nm -u "${objs[@]}" 2>/dev/null | awk '$1 == "U" { print $2 }' \
                  | grep '^ngx_' | sort -u) \
            <(nm --defined-only "${objs[@]}" 2>/dev/null \
                  | awk 'NF == 3 && $2 ~ /^[A-Z]$/ { print $3 }' | sort -u) \
        | while read -r sym; do
            if is_data "$sym"; then
                echo "fuzz/build.sh: warning: $h: nginx variable $sym is" \
                     "zero-filled storage; define it in fuzz/psb_fuzz.c" >&2
                echo "char ${sym}[4096] __attribute__((aligned(64)));"
            else
                echo "void $sym(void) { psb_fuzz_unreachable(\"$sym\"); }"
            fi
        done
    } > "$stubs.new"

    if ! cmp -s "$stubs.new" "$stubs"; then
        mv "$stubs.new" "$stubs"
    else
        rm -f "$stubs.new"
    fi

    "$CC" -c -g -O1 -w "$stubs" -o "$OUT/obj/fuzz/${h}_stubs.o"

    echo "  LD  $h ($(grep -c '^void ngx_' "$stubs") stubbed nginx functions)"
    # shellcheck disable=SC2086
    "$CC" $LINK_FLAGS "${objs[@]}" "$OUT/obj/fuzz/${h}_stubs.o" $LIBS \
        -o "$OUT/bin/$h"
done

say "OK: $(for h in $HARNESSES; do printf '%s ' "$OUT/bin/$h"; done)"
