#!/usr/bin/env bash
# End-to-end test of the Debian package (`make test-deb`):
#
#   1. apt-get install ./build/deb/libnginx-mod-http-sandbox-bridge_*.deb
#   2. check what it installed and the modules-enabled symlink dh_nginx's
#      postinst made
#   3. `nginx -t` with the installed example (load_module by absolute path),
#      then run /usr/sbin/nginx with a config that includes the
#      modules-enabled snippet, against a private redis + dockerd
#      (PSB_INSTANCE=deb), and GET <location>/health with a bearer token
#   4. apt-get purge, and check nothing of the package is left behind
#
# The .deb must exist (make deb).  Refuses to run when the package is already
# installed (it would purge it), unless PSB_TEST_DEB_REPLACE=1.  The
# machine's nginx is only used with private configs; the test suite's nginx
# (/usr/sbin/nginx + load_module build/module/*.so) is not affected.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$ROOT"
PKG=libnginx-mod-http-sandbox-bridge
MOD=ngx_http_sandbox_bridge_module
NGINX=/usr/sbin/nginx
SNIPPET=/usr/share/nginx/modules-available/mod-http-sandbox-bridge.conf
ENABLED=/etc/nginx/modules-enabled/50-mod-http-sandbox-bridge.conf
export PSB_INSTANCE=deb
APT=(apt-get -y -q -o DPkg::Lock::Timeout=300)
export DEBIAN_FRONTEND=noninteractive

log()  { echo "test-deb: $*" >&2; }
die()  { echo "test-deb: FAIL: $*" >&2; exit 1; }
pkg_installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null || true)" = installed ]; }
pkg_known()     { dpkg-query -W -f='${db:Status-Status}' "$PKG" >/dev/null 2>&1 \
                  && [ "$(dpkg-query -W -f='${db:Status-Status}' "$PKG")" != not-installed ]; }

mapfile -t debs < <(ls "$ROOT"/build/deb/${PKG}_*.deb 2>/dev/null || true)
[ ${#debs[@]} -eq 1 ] || die "expected one build/deb/${PKG}_*.deb, found ${#debs[@]} (make deb)"
DEB=${debs[0]}

if pkg_known && [ "${PSB_TEST_DEB_REPLACE:-0}" != 1 ]; then
    die "$PKG is already installed here; purge it first or set PSB_TEST_DEB_REPLACE=1"
fi

T=$(mktemp -d /tmp/psb-test-deb.XXXXXX)
chmod 0755 "$T"
nginx_pid=
installed_by_us=0
services_started=0

stop_nginx() {
    [ -n "$nginx_pid" ] || return 0
    kill -QUIT "$nginx_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$nginx_pid" 2>/dev/null; then
        kill -TERM "$nginx_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
    fi
    if kill -0 "$nginx_pid" 2>/dev/null; then
        pkill -KILL -P "$nginx_pid" 2>/dev/null || true
        kill -KILL "$nginx_pid" 2>/dev/null || true
    fi
    nginx_pid=
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_nginx
    if [ "$installed_by_us" = 1 ] && pkg_known; then
        log "cleanup: purging $PKG"
        "${APT[@]}" purge "$PKG" >/dev/null 2>&1 || rc=1
    fi
    if [ "$services_started" = 1 ]; then
        util/services.sh stop || rc=1
    fi
    rm -rf "$T"
    [ "$rc" = 0 ] && log "PASS" || log "failed (rc $rc)"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# the stock nginx config must stay as good as it was
stock_ok_before=0
"$NGINX" -t -q 2>/dev/null && stock_ok_before=1
enabled_list() { find /etc/nginx/modules-enabled -mindepth 1 -printf '%f -> %l\n' 2>/dev/null | sort; }
enabled_before=$(enabled_list)

# --- 1. install --------------------------------------------------------------------
if pkg_known; then
    log "purging the already installed $PKG (PSB_TEST_DEB_REPLACE=1)"
    "${APT[@]}" purge "$PKG" >/dev/null
fi
log "apt-get install ./${DEB#"$ROOT"/}"
installed_by_us=1
"${APT[@]}" install --no-install-recommends "$DEB" > "$T/apt-install.log" 2>&1 \
    || { cat "$T/apt-install.log" >&2; die "apt-get install failed"; }
pkg_installed || die "$PKG not installed after apt-get install"
mapfile -t files < <(dpkg -L "$PKG")

# --- 2. contents -------------------------------------------------------------------
for f in /usr/lib/nginx/modules/$MOD.so "$SNIPPET" /usr/bin/psb-sign \
         /usr/share/doc/$PKG/README.md.gz /usr/share/doc/$PKG/copyright \
         /usr/share/doc/$PKG/examples/quickstart.conf; do
    [ -e "$f" ] || die "$f missing after install"
done
[ -x /usr/bin/psb-sign ] || die "/usr/bin/psb-sign is not executable"
[ -L "$ENABLED" ] && [ "$(readlink "$ENABLED")" = "$SNIPPET" ] \
    || die "$ENABLED is not a symlink to $SNIPPET"
grep -qx "load_module modules/$MOD.so;" "$SNIPPET" || die "unexpected $SNIPPET: $(cat "$SNIPPET")"
log "installed: $(dpkg-query -W -f='${Package} ${Version}' "$PKG"); $ENABLED -> $SNIPPET"
# the stock /etc/nginx/nginx.conf now loads the module: it must still pass
if [ "$stock_ok_before" = 1 ]; then
    "$NGINX" -t -q || die "the stock nginx config (nginx -t) fails with the module enabled"
fi

# psb-sign runs from /usr/bin
printf 'k1 %s\n' "$(openssl rand -hex 16)" > "$T/keys"
/usr/bin/psb-sign "$T/keys" k1 GET http://127.0.0.1/x | grep -q '^PSB-HMAC-SHA256 keyId=k1, ' \
    || die "psb-sign did not produce a signature header"

# --- 3. services, nginx -t, one health request -----------------------------------------
util/services.sh status -q || { services_started=1; util/services.sh start; }
# shellcheck disable=SC1090,SC1091
. "$ROOT/build/services-deb.env"

port=18480
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    port=$((port + 1)); [ "$port" -lt 18580 ] || die "no free port in 18480..18579"
done
token=$(openssl rand -hex 24)
(umask 077; printf '%s\n' "$token" > "$T/tokens")
mkdir -p "$T/prefix" "$T/quick/logs"

# (a) the shipped example, module by absolute path (render-conf: ${BRIDGE_*})
BRIDGE_MODULE=/usr/lib/nginx/modules/$MOD.so BRIDGE_PREFIX=$T/quick BRIDGE_PORT=$port \
BRIDGE_REDIS=$TEST_NGINX_REDIS_HOST:$TEST_NGINX_REDIS_PORT BRIDGE_TOKEN_FILE=$T/tokens \
BRIDGE_DOCKER_SOCKET=$TEST_NGINX_DOCKER_SOCKET BRIDGE_IMAGE=$TEST_NGINX_SANDBOX_IMAGE \
BRIDGE_USER=root \
    util/render-conf "/usr/share/doc/$PKG/examples/quickstart.conf" "$T/quick.conf"
"$NGINX" -e "$T/quick/error.log" -t -q -c "$T/quick.conf" \
    || die "nginx -t failed with the installed example config"

# (b) the Debian way: the modules-enabled snippet (load_module modules/...,
# relative to nginx's default prefix), served for real
cat > "$T/nginx.conf" <<EOF
include $ENABLED;
user root;
worker_processes 1;
pid $T/nginx.pid;
error_log $T/error.log notice;
events { worker_connections 64; }
http {
    access_log $T/access.log;
    client_body_temp_path $T/prefix/client_body;
    proxy_temp_path $T/prefix/proxy;
    fastcgi_temp_path $T/prefix/fastcgi;
    uwsgi_temp_path $T/prefix/uwsgi;
    scgi_temp_path $T/prefix/scgi;
    sandbox_redis $TEST_NGINX_REDIS_HOST:$TEST_NGINX_REDIS_PORT prefix=psb-test-deb:;
    server {
        listen 127.0.0.1:$port;
        sandbox_auth bearer;
        sandbox_auth_token_file $T/tokens;
        sandbox_docker_location /_docker;
        sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
        location /api/paperclip-sandbox/v1 { sandbox_bridge; }
        location /_docker/ {
            internal;
            proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
            proxy_http_version 1.0;
            proxy_buffering off;
            proxy_read_timeout 1d;
        }
    }
}
EOF
"$NGINX" -e "$T/error.log" -t -q -c "$T/nginx.conf" || die "nginx -t failed (modules-enabled snippet)"
"$NGINX" -e "$T/error.log" -c "$T/nginx.conf"
for _ in $(seq 1 50); do [ -s "$T/nginx.pid" ] && break; sleep 0.1; done
nginx_pid=$(cat "$T/nginx.pid" 2>/dev/null || true)
[ -n "$nginx_pid" ] || { cat "$T/error.log" >&2 || true; die "nginx did not start"; }

url=http://127.0.0.1:$port/api/paperclip-sandbox/v1/health
code=000
for _ in $(seq 1 30); do
    code=$(curl -s -o "$T/health.json" -w '%{http_code}' --max-time 5 \
               -H "Authorization: Bearer $token" "$url" || true)
    [ "$code" = 200 ] && break
    sleep 0.5
done
[ "$code" = 200 ] || { cat "$T/health.json" "$T/error.log" >&2 || true; die "GET /health: HTTP $code"; }
grep -q '"ok":true' "$T/health.json" || die "health body without \"ok\":true: $(cat "$T/health.json")"
log "GET /health -> 200 $(cat "$T/health.json")"
# and without the token
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url" || true)
[ "$code" = 401 ] || die "GET /health without a token: HTTP $code, want 401"
stop_nginx

# --- 4. purge, nothing left behind ---------------------------------------------------
"${APT[@]}" purge "$PKG" > "$T/apt-purge.log" 2>&1 \
    || { cat "$T/apt-purge.log" >&2; die "apt-get purge failed"; }
installed_by_us=0
! pkg_known || die "$PKG still known to dpkg after purge"
for f in "${files[@]}"; do
    [ "$f" = /. ] && continue
    if [ -d "$f" ] && [ ! -L "$f" ]; then
        # directories shared with other packages stay; ours must go
        dpkg -S "$f" >/dev/null 2>&1 || [ ! -e "$f" ] || die "directory $f left behind"
    else
        [ ! -e "$f" ] && [ ! -L "$f" ] || die "$f left behind"
    fi
done
[ ! -e "$ENABLED" ] && [ ! -L "$ENABLED" ] && [ ! -L "$ENABLED.removed" ] \
    || die "modules-enabled symlink left behind"
[ "$enabled_before" = "$(enabled_list)" ] || die "/etc/nginx/modules-enabled/ differs from before the test"
if [ "$stock_ok_before" = 1 ]; then
    "$NGINX" -t -q 2>/dev/null || die "the stock nginx config (nginx -t) broke"
fi
log "purged; no files of $PKG left, modules-enabled as before"
