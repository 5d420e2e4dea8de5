# shellcheck shell=bash
# Shared plumbing of the bench/*.sh scripts; sourced, never run.
#
# bench_init        tools, `make build`, private services (PSB_INSTANCE=bench,
#                   reused when already up and then left running), a watchdog
#                   and an EXIT trap that stops and removes everything the
#                   script started: nginx, containers, Redis keys, services.
# nginx_start       nginx (stock binary + the module) in a fresh temp prefix
#                   with a generated config: error_log warn, access_log off,
#                   1 worker, `user root`, listen on a free loopback port.
#
# Knobs: NGINX_BIN (default /usr/sbin/nginx), BENCH_DEADLINE (seconds, per
# script), BENCH_KEEP=1 keeps the nginx prefix (logs) after the run,
# BENCH_SO=<file> tests that module file instead of building one (run-all.sh
# sets it), NGX_EXTRA_MAIN / NGX_EXTRA_SERVER add config text,
# BENCH_RUNTIME=runsc: every container under gVisor (services instance
# bench-runsc with PSB_DOCKER_RUNTIME=runsc, `sandbox_runtime runsc;`; the
# direct paths replay the module's create body, so they use runsc too).

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd "$BENCH_DIR/.." && pwd -P)
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
SO=$ROOT/build/module/ngx_http_sandbox_bridge_module.so
SO_COPY=
CLIENT=$BENCH_DIR/psb-client.pl
BENCH_RUNTIME=${BENCH_RUNTIME:-}
if [ -n "$BENCH_RUNTIME" ]; then
    export PSB_DOCKER_RUNTIME=$BENCH_RUNTIME
    export PSB_INSTANCE=${PSB_INSTANCE:-bench-$BENCH_RUNTIME}
fi
export PSB_INSTANCE=${PSB_INSTANCE:-bench}
BENCH_NAME=$(basename "$0" .sh)
API=/api/paperclip-sandbox/v1
# Redis key prefix of the module; its containers are named
# "psbbench-<leaseId>" and labelled paperclip.bridge.prefix=psbbench:
KEY_PREFIX=psbbench:
CONTAINER_PREFIX=psbbench-
RESULTS=$ROOT/bench/results/$BENCH_NAME-$(date -u +%Y%m%dT%H%M%SZ)

NGINX_PID=
NGX_PFX=
OWN_SERVICES=0
WATCHDOG_PID=
PORT=
TOKEN=

log()  { printf '[%s %s] %s\n' "$BENCH_NAME" "$(date +%T)" "$*" >&2; }
die()  { log "error: $*"; exit 1; }
# the result lines; also collected in $RESULTS/summary.txt
say()  { printf '%s\n' "$*" | tee -a "$RESULTS/summary.txt"; }

# ------------------------------------------------------------------ tools
bench_need() {   # bench_need command debian-package
    command -v "$1" >/dev/null 2>&1 && return 0
    log "installing $2 (for $1)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$2" >/dev/null \
        || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive \
             apt-get install -y --no-install-recommends "$2" >/dev/null; } \
        || die "could not install $2"
}

# ------------------------------------------------------------------ stats
# reads numbers (one per line) on stdin; prints "median p90 mean min max n"
# (nearest-rank percentiles)
stats() {
    perl -e '
        my @v = sort { $a <=> $b } grep { /\S/ } map { chomp; $_ } <STDIN>;
        die "stats: no values\n" unless @v;
        my $p = sub { my $q = shift; my $i = int($q * @v + 0.999999) - 1;
                      $i = 0 if $i < 0; $i = $#v if $i > $#v; $v[$i] };
        my $s = 0; $s += $_ for @v;
        printf "%.3f %.3f %.3f %.3f %.3f %d\n",
               $p->(0.5), $p->(0.9), $s / @v, $v[0], $v[-1], scalar @v;'
}
ratio() { perl -e 'printf "%.2f", $ARGV[1] ? $ARGV[0] / $ARGV[1] : 0' "$1" "$2"; }

# ------------------------------------------------------------------ proc
worker_pid() {
    local p
    for p in $(ps -o pid= --ppid "$NGINX_PID" 2>/dev/null); do
        if tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q 'worker process'; then
            echo "$p"; return 0
        fi
    done
    return 1
}
proc_kb() {      # proc_kb PID VmRSS|VmHWM
    awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"
}
# CPU seconds (user+system) a process has used so far
proc_cpu() {
    perl -e 'open my $f, "<", "/proc/$ARGV[0]/stat" or die; my $s = <$f>; $s =~ s/.*\) //;
                my @f = split / /, $s; printf "%.2f\n", ($f[11] + $f[12]) / $ARGV[1]' "$1" "$(getconf CLK_TCK)"
}
# CPUs kept busy by everything else on the machine, sampled over $1 s
background_load() {
    perl -e 'sub b { open my $s, "<", "/proc/stat" or die; my @c = split " ", scalar <$s>;
                     ($c[1] + $c[2] + $c[3] + $c[6] + $c[7] + ($c[8] // 0)) }
               my $a = b(); select undef, undef, undef, $ARGV[0]; my $z = b();
               printf "%.2f", ($z - $a) / $ARGV[1] / $ARGV[0]' "$1" "$(getconf CLK_TCK)"
}
machine_info() {
    say "date: $(date -u +%FT%TZ)"
    say "machine: nproc=$(nproc); $(free -h | awk '/^Mem:/ {print "mem total " $2 ", available " $7}'); load avg $(cut -d' ' -f1-3 /proc/loadavg)"
    say "software: $($NGINX_BIN -v 2>&1 | sed 's/.*: //'), $(redis-server --version | awk '{print $3}'), dockerd $(dockerd --version | awk '{print $3}' | tr -d ,), $(uname -r)"
}

# ------------------------------------------------------------------ docker
dk() {           # dk METHOD PATH [JSON] -- curl on the Docker socket
    local m=$1 p=$2
    shift 2
    if [ $# -gt 0 ]; then
        curl -sS --max-time 60 --unix-socket "$TEST_NGINX_DOCKER_SOCKET" -X "$m" \
             -H 'Content-Type: application/json' --data-binary "$1" "http://docker/v1.41$p"
    else
        curl -sS --max-time 60 --unix-socket "$TEST_NGINX_DOCKER_SOCKET" -X "$m" "http://docker/v1.41$p"
    fi
}
# ids of the containers this benchmark may have made on the bench dockerd
bench_containers() {
    local f
    for f in "{\"label\":[\"paperclip.bridge.prefix=$KEY_PREFIX\"]}" '{"label":["psb.bench=1"]}'; do
        curl -sS --max-time 30 --unix-socket "$TEST_NGINX_DOCKER_SOCKET" -G \
             --data-urlencode "all=1" --data-urlencode "filters=$f" \
             http://docker/v1.41/containers/json 2>/dev/null \
            | perl -MJSON::PP -e 'my $j = eval { decode_json(join "", <STDIN>) } || [];
                                  print "$_->{Id}\n" for @$j'
    done | sort -u
}
container_id() { dk GET "/containers/$1/json" | perl -MJSON::PP -e 'print decode_json(join "", <STDIN>)->{Id}'; }

# ------------------------------------------------------------------ bridge
bridge() {       # bridge METHOD PATH [JSON] -> body on stdout; status on fd 3 if open
    local m=$1 p=$2
    shift 2
    curl -sS --max-time 120 -X "$m" -H "Authorization: Bearer $TOKEN" \
         -H 'Content-Type: application/json' ${1:+--data-binary "$1"} \
         "http://127.0.0.1:$PORT$p"
}
acquire() {      # acquire RUNID -> providerLeaseId
    local out
    out=$(bridge POST "$API/leases/acquire" "{\"environmentId\":\"bench\",\"runId\":\"$1\"}")
    perl -MJSON::PP -e 'my $j = decode_json($ARGV[0]); die "acquire: $ARGV[0]\n" unless $j->{providerLeaseId};
                        print $j->{providerLeaseId}' "$out" || die "acquire failed: $out"
}
release() {
    local out
    out=$(bridge POST "$API/leases/release" "{\"providerLeaseId\":\"$1\"}")
    [ "$out" = '{"ok":true}' ] || die "release $1: $out"
}

# ------------------------------------------------------------------ nginx
free_port() {
    local p=${1:-18480}
    while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
    echo "$p"
}

# nginx_start: uses NGX_WORKER_CONNECTIONS, NGX_EXTRA_SERVER (server-level
# text; @PFX@ becomes the nginx prefix), NGX_EXTRA_MAIN (main-level
# text) and NGX_DOCKER_LOCATIONS (the server's sandbox_docker_location
# lines instead of /_docker alone) when set
nginx_start() {
    NGX_PFX=$(mktemp -d /tmp/psb-bench-nginx.XXXXXX)
    mkdir -p "$NGX_PFX"/{conf,logs,tmp}
    TOKEN=$(openssl rand -hex 32)
    ( umask 077; printf '%s\n' "$TOKEN" > "$NGX_PFX/conf/tokens" )
    PORT=$(free_port 18480)
    CAPPORT=$(free_port $((PORT + 1)))
    local nofile
    nofile=$(ulimit -Hn)
    case "$nofile" in unlimited) nofile=65536 ;; esac
    [ "$nofile" -gt 65536 ] && nofile=65536
    cat > "$NGX_PFX/conf/nginx.conf" <<CONF
load_module $SO;
user root;
worker_processes 1;
worker_rlimit_nofile $nofile;
pid $NGX_PFX/logs/nginx.pid;
error_log $NGX_PFX/logs/error.log warn;
${NGX_EXTRA_MAIN:-}

events {
    worker_connections ${NGX_WORKER_CONNECTIONS:-1024};
}

http {
    access_log off;
    keepalive_requests 10000000;
    log_format psb_docker escape=json '{"method":"\$request_method","uri":"\$uri","args":"\$args","body":"\$request_body"}';
    default_type application/octet-stream;
    client_body_temp_path $NGX_PFX/tmp/body;
    proxy_temp_path $NGX_PFX/tmp/proxy;
    fastcgi_temp_path $NGX_PFX/tmp/fastcgi;
    uwsgi_temp_path $NGX_PFX/tmp/uwsgi;
    scgi_temp_path $NGX_PFX/tmp/scgi;

    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=$KEY_PREFIX;

    server {
        listen 127.0.0.1:$PORT;

        ${NGX_DOCKER_LOCATIONS:-sandbox_docker_location /_docker;}
        sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
        ${BENCH_RUNTIME:+sandbox_runtime $BENCH_RUNTIME;}

        # baseline: nginx core only
        location = /plain {
            return 200 "ok";
        }

        location $API {
            sandbox_auth bearer;
            sandbox_auth_token_file $NGX_PFX/conf/tokens;
            sandbox_bridge;
        }

        # a copy of the bridge whose Docker calls go through the logging
        # server below: captures the exact request bodies the module sends
        # (docker_bodies), which the direct-path baselines then replay
        location /cap$API {
            sandbox_auth bearer;
            sandbox_auth_token_file $NGX_PFX/conf/tokens;
            sandbox_docker_location /_dockercap;
            sandbox_bridge;
        }

        location /_dockercap/ {
            internal;
            proxy_pass http://127.0.0.1:$CAPPORT/v1.41/;
            proxy_http_version 1.0;
            proxy_buffering off;
            proxy_read_timeout 1d;
        }

        # as in the README
        location /_docker/ {
            internal;
            proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
            proxy_http_version 1.0;
            proxy_buffering off;
            proxy_read_timeout 1d;
            proxy_send_timeout 1h;
        }
${NGX_EXTRA_SERVER:-}
    }

    server {
        listen 127.0.0.1:$CAPPORT;
        access_log $NGX_PFX/logs/docker.log psb_docker;
        client_body_buffer_size 1m;
        client_max_body_size 0;

        location / {
            proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:;
            proxy_http_version 1.0;
            proxy_buffering off;
            proxy_read_timeout 1d;
        }
    }
}
CONF
    sed -i "s#@PFX@#$NGX_PFX#g" "$NGX_PFX/conf/nginx.conf"
    "$NGINX_BIN" -p "$NGX_PFX/" -c conf/nginx.conf -t -q 2>"$NGX_PFX/logs/t.err" \
        || { cat "$NGX_PFX/logs/t.err" >&2; die "nginx -t failed ($NGX_PFX/conf/nginx.conf)"; }
    "$NGINX_BIN" -p "$NGX_PFX/" -c conf/nginx.conf -g 'daemon off;' </dev/null \
        >>"$NGX_PFX/logs/stdout.log" 2>&1 &
    NGINX_PID=$!
    local i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && worker_pid >/dev/null; then
            break
        fi
        kill -0 "$NGINX_PID" 2>/dev/null || die "nginx exited: $(tail -n 5 "$NGX_PFX/logs/error.log" 2>/dev/null)"
        sleep 0.1
    done
    # the worker's Redis connection
    for i in $(seq 1 50); do
        [ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
             "http://127.0.0.1:$PORT$API/health")" = 200 ] && break
        sleep 0.1
    done
    [ "$i" -lt 50 ] || die "bridge health is not 200: $(bridge GET "$API/health")"
    log "nginx master $NGINX_PID, worker $(worker_pid), 127.0.0.1:$PORT, prefix $NGX_PFX"
}

nginx_stop() {
    [ -n "$NGINX_PID" ] || return 0
    local i w
    w=$(worker_pid || true)
    if kill -0 "$NGINX_PID" 2>/dev/null; then
        kill -QUIT "$NGINX_PID" 2>/dev/null || true
        for i in $(seq 1 100); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$NGINX_PID" 2>/dev/null; then
            log "nginx ignored QUIT for 10s: TERM"
            kill -TERM "$NGINX_PID" 2>/dev/null || true
            for i in $(seq 1 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
        fi
        if kill -0 "$NGINX_PID" 2>/dev/null; then
            [ -n "$w" ] && kill -KILL "$w" 2>/dev/null || true
            kill -KILL "$NGINX_PID" 2>/dev/null || true
        fi
    fi
    wait "$NGINX_PID" 2>/dev/null || true
    [ -n "$w" ] && kill -0 "$w" 2>/dev/null && kill -KILL "$w" 2>/dev/null || true
    NGINX_PID=
}

# error.log lines above warn (and warn lines too), for the summary
nginx_log_summary() {
    local f=$NGX_PFX/logs/error.log
    [ -f "$f" ] || return 0
    local n
    n=$(grep -c '\[\(warn\|error\|crit\|alert\|emerg\)\]' "$f" || true)
    say "error.log: $n line(s) at warn or above"
    if grep -q 'exited on signal' "$f"; then
        say "PROBLEM: an nginx worker crashed: $(grep 'exited on signal' "$f" | head -n 3 | sed -E 's/^[0-9/]+ [0-9:]+ //' | tr '\n' ';')"
    fi
    if [ "$n" -gt 0 ]; then
        grep '\[\(warn\|error\|crit\|alert\|emerg\)\]' "$f" | sed -E 's/^[0-9/]+ [0-9:]+ //' \
            | sed -E 's/[0-9a-f]{12,}/<id>/g; s/#[0-9]+/#N/g; s/\*[0-9]+/*N/g' \
            | sort | uniq -c | sort -rn | head -n 10 | sed 's/^/    /' | tee -a "$RESULTS/summary.txt"
    fi
}

# ------------------------------------------------------------------ lifecycle
bench_cleanup() {
    local rc=$? ids left keys
    trap - EXIT INT TERM
    [ -n "$WATCHDOG_PID" ] && kill "$WATCHDOG_PID" 2>/dev/null || true
    [ -n "${BENCH_CHILD_PIDS:-}" ] && kill $BENCH_CHILD_PIDS 2>/dev/null || true
    if [ -n "$NGINX_PID" ]; then
        nginx_stop
    fi
    if [ -n "$NGX_PFX" ] && [ -d "$NGX_PFX" ]; then
        cp -f "$NGX_PFX/logs/error.log" "$RESULTS/error.log" 2>/dev/null || true
        cp -f "$NGX_PFX/conf/nginx.conf" "$RESULTS/nginx.conf" 2>/dev/null || true
        [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$NGX_PFX"
    fi
    if [ -n "${TEST_NGINX_DOCKER_SOCKET:-}" ]; then
        ids=$(bench_containers || true)
        if [ -n "$ids" ]; then
            log "removing $(echo $ids | wc -w) leftover container(s)"
            [ -f "$RESULTS/summary.txt" ] && say "PROBLEM: $(echo $ids | wc -w) leftover container(s) removed at clean-up" >/dev/null
            for c in $ids; do dk DELETE "/containers/$c?force=true&v=true" >/dev/null 2>&1 || true; done
        fi
        left=$(bench_containers || true)
        [ -z "$left" ] || { log "containers still present: $left"; rc=1; }
    fi
    if [ -n "${TEST_NGINX_REDIS_PORT:-}" ]; then
        keys=$(redis-cli -p "$TEST_NGINX_REDIS_PORT" --scan --pattern "$KEY_PREFIX*" 2>/dev/null || true)
        if [ -n "$keys" ]; then
            printf '%s\n' "$keys" | xargs -r redis-cli -p "$TEST_NGINX_REDIS_PORT" DEL >/dev/null 2>&1 || true
        fi
        keys=$(redis-cli -p "$TEST_NGINX_REDIS_PORT" --scan --pattern "$KEY_PREFIX*" 2>/dev/null || true)
        [ -z "$keys" ] || { log "redis keys still present: $keys"; rc=1; }
    fi
    # a script's own extra services (idle-streams.sh DOCKERDS)
    if [ -n "${BENCH_CLEANUP_HOOK:-}" ]; then
        "$BENCH_CLEANUP_HOOK" || rc=1
    fi
    if [ "$OWN_SERVICES" = 1 ]; then
        "$ROOT/util/services.sh" stop -q >/dev/null 2>&1 || { log "services stop failed"; rc=1; }
    fi
    [ -n "${SO_COPY:-}" ] && rm -f "$SO_COPY"
    [ -f "$RESULTS/summary.txt" ] && say "load avg at end: $(cut -d" " -f1-3 /proc/loadavg)" >/dev/null
    [ -d "$RESULTS" ] && log "results in ${RESULTS#$ROOT/}"
    exit "$rc"
}

bench_init() {
    BENCH_DEADLINE=${BENCH_DEADLINE:-${1:-150}}
    mkdir -p "$RESULTS"
    trap bench_cleanup EXIT
    trap 'log interrupted; exit 130' INT
    trap 'log "terminated (SIGTERM; the deadline is ${BENCH_DEADLINE}s)"; exit 143' TERM
    # the whole script, services and all, is bounded
    perl -e 'sleep $ARGV[0]; kill "TERM", $ARGV[1]' "$BENCH_DEADLINE" $$ \
        </dev/null >/dev/null 2>&1 &
    WATCHDOG_PID=$!

    bench_need curl curl
    bench_need perl perl
    bench_need redis-cli redis-tools
    bench_need openssl openssl
    [ -x "$NGINX_BIN" ] || die "$NGINX_BIN missing (make deps)"

    if [ -n "${BENCH_SO:-}" ]; then
        SO=$BENCH_SO          # run-all.sh built and copied it once for all
    else
        log "make build"
        make -s -C "$ROOT" build >"$RESULTS/build.log" 2>&1 || { tail -n 20 "$RESULTS/build.log" >&2; die "make build failed"; }
        [ -f "$SO" ] || die "$SO missing"
        # a private copy: a concurrent rebuild cannot change the module
        # under test halfway through
        SO_COPY=$(mktemp /tmp/psb-bench-module.XXXXXX)
        cp -p "$SO" "$SO_COPY"
        SO=$SO_COPY
    fi

    if "$ROOT/util/services.sh" status -q 2>/dev/null; then
        log "reusing running services (PSB_INSTANCE=$PSB_INSTANCE)"
    else
        OWN_SERVICES=1
        "$ROOT/util/services.sh" start -q >"$RESULTS/services.log" 2>&1 \
            || { cat "$RESULTS/services.log" >&2; die "util/services.sh start failed"; }
    fi
    # shellcheck disable=SC1090
    . "$("$ROOT/util/services.sh" env)"
    export TEST_NGINX_REDIS_PORT TEST_NGINX_DOCKER_SOCKET TEST_NGINX_SANDBOX_IMAGE DOCKER_HOST

    : > "$RESULTS/summary.txt"
    say "== $BENCH_NAME${BENCH_RUNTIME:+ (runtime $BENCH_RUNTIME)}"
    machine_info
    say "$(build_info)"
    say "background load (3 s sample before the run): $(background_load 3) of $(nproc) CPUs busy"
}

# bench/httpbench.c -> build/bench/httpbench (build/ is not versioned)
HTTPBENCH=$ROOT/build/bench/httpbench
build_httpbench() {
    bench_need gcc gcc
    if [ ! -x "$HTTPBENCH" ] || [ "$BENCH_DIR/httpbench.c" -nt "$HTTPBENCH" ]; then
        mkdir -p "$(dirname "$HTTPBENCH")"
        gcc -O2 -Wall -Wextra -o "$HTTPBENCH.tmp.$$" "$BENCH_DIR/httpbench.c" \
            && mv "$HTTPBENCH.tmp.$$" "$HTTPBENCH" || die "could not build httpbench"
    fi
}

# cpu_snapshot WORKER_PID CONTAINER_ID -> "worker docker container busy"
# CPU seconds used so far by: the nginx worker; dockerd + containerd + the
# shims of the bench services (every process whose command line mentions
# the services' runtime dir); the container's cgroup (cpuacct, v1 or v2);
# and the whole machine (all CPUs, /proc/stat, not idle/iowait).
cpu_snapshot() {
    perl -e '
        my ($w, $cid, $rt, $hz) = @ARGV;
        my $pcpu = sub { open my $f, "<", "/proc/$_[0]/stat" or return 0; my $s = <$f>;
                         $s =~ s/.*\) //; my @f = split / /, $s; ($f[11] + $f[12]) / $hz };
        my $d = 0;
        for my $p (glob "/proc/[0-9]*") {
            open my $f, "<", "$p/cmdline" or next; my $c = <$f> // ""; 
            $d += $pcpu->((split m{/}, $p)[-1]) if index($c, "$rt/") >= 0;
        }
        my $ct = 0;
        if ($cid) {
            for my $f ("/sys/fs/cgroup/cpuacct/docker/$cid/cpuacct.usage",
                       "/sys/fs/cgroup/system.slice/docker-$cid.scope/cpu.stat",
                       "/sys/fs/cgroup/docker/$cid/cpu.stat") {
                open my $h, "<", $f or next; local $/; my $t = <$h>;
                if ($t =~ /usage_usec (\d+)/) { $ct = $1 / 1e6 } else { $ct = $t / 1e9 }
                last;
            }
        }
        open my $s, "<", "/proc/stat" or die; my @c = split " ", scalar <$s>;
        my $busy = $c[1] + $c[2] + $c[3] + $c[6] + $c[7] + ($c[8] // 0);
        printf "%.3f %.3f %.3f %.3f\n", $pcpu->($w), $d, $ct, $busy / $hz;
    ' "$1" "${2:-}" "$PSB_RUNTIME" "$(getconf CLK_TCK)"
}
cpu_delta() {   # cpu_delta "snap0" "snap1" -> "worker docker container busy"
    perl -e 'my @a = split " ", $ARGV[0]; my @b = split " ", $ARGV[1];
             printf "%.2f %.2f %.2f %.2f\n", map { $b[$_] - $a[$_] } 0 .. 3' "$1" "$2"
}

# docker_bodies URI_REGEX -> the request bodies (one JSON per line) of the
# Docker calls the module made whose URI matches, oldest first (from the
# /_docker/ access log; the log is line-buffered by nginx, written as each
# subrequest ends)
docker_bodies() {
    perl -MJSON::PP -ne '
        BEGIN { $re = qr/$ARGV[0]/; shift @ARGV }
        my $l = eval { decode_json($_) } or next;
        print "$l->{body}\n" if $l->{uri} =~ $re && length $l->{body};
    ' "$1" "$NGX_PFX/logs/docker.log"
}
# replace the PSB_EXEC marker of a captured exec-create body with a fresh one
fresh_marker() {
    perl -MJSON::PP -e '
        my $j = decode_json($ARGV[0]);
        my $m = join "", map { sprintf "%02x", int rand 256 } 1 .. 16;
        s/^PSB_EXEC=.*/PSB_EXEC=$m/ for @{ $j->{Env} || [] };
        print JSON::PP->new->canonical->encode($j);' "$1"
}
# build identity of the module under test
build_info() {
    local dirty
    dirty=$(git -C "$ROOT" status --porcelain -- src config 2>/dev/null | wc -l)
    echo "module: git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$([ "$dirty" = 0 ] || echo " + $dirty uncommitted file(s) in src/config"), .so built $(date -u -r "$SO" +%FT%TZ), sha256 $(sha256sum "$SO" | cut -c1-12)"
}
