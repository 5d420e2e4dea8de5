#!/usr/bin/env bash
# bench/health.sh -- request overhead of the bridge on its cheapest route.
#
#   (a) location = /plain { return 200 "ok"; }          nginx core, baseline
#   (c) location = /same { return 200 '<the health body>'; }  nginx core
#       sending the same bytes as (b) (application/json): what the module
#       itself adds, without the larger response
#   (b) GET /api/paperclip-sandbox/v1/health             bearer auth (SHA-256,
#       constant-time compare) + the worker's Redis connection state (no
#       Redis round trip; the worker PINGs an idle connection once a
#       second) + the body kept per worker; the Docker /_ping is cached
#       for 1 s, so ~1 Docker call per second
#
# Same nginx, same run:
#   1. wrk -t1 -c50 -d10s --latency, (a), (c), then (b); then the sequential pair
#      (-c1, 10 s each).  Both requests carry the Authorization header.
#   2. The same six cases with bench/httpbench.c, in ROUNDS interleaved
#      rounds (a,c,b,a,c,b,...; HB_DURATION s each): it records the latency of
#      every request.  wrk 4 "corrects" its histogram for requests it
#      expected but did not see (its calibration records them at the
#      maximum latency), which inflates its percentiles when the machine is
#      busy; and interleaving keeps a noisy neighbour from landing on one
#      side of a ratio only.  The ratio reported is the median of the
#      per-round ratios.
#   3. redis-benchmark -t ping,get -c 50 -n 100000 -q on the same Redis
#      (and -t ping -c 1) as a reference line.
# Also: the worker's VmRSS before/after (a per-request leak would show).
#
# Knobs: DURATION (wrk, default 10s), ROUNDS (default 3), HB_DURATION
# (httpbench seconds per case and round, default 3).
. "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
HB_DURATION=${HB_DURATION:-3}

bench_init 230
bench_need wrk wrk
bench_need redis-benchmark redis-tools
build_httpbench
# (c): nginx core sending the very bytes of (b): the health body below is
# what this configuration answers (checked before the run)
SAME_BODY='{"ok":true,"provider":"docker","bridgeVersion":"0.1.0","capabilities":{"reuseLease":true,"namedSessions":true,"previewUrls":false},"store":{"backend":"redis","reachable":true},"driver":{"name":"docker","reachable":true}}'
NGX_EXTRA_SERVER="
        location = /same {
            default_type application/json;
            return 200 '$SAME_BODY';
        }
"
nginx_start
W=$(worker_pid)
PLAIN=http://127.0.0.1:$PORT/plain
SAME=http://127.0.0.1:$PORT/same
HEALTH=http://127.0.0.1:$PORT$API/health

# sanity: both answer 200 with the expected body; no token -> 401
plain=$(curl -sS "$PLAIN")
[ "$plain" = ok ] || die "/plain answered: $plain"
health=$(bridge GET "$API/health")
case "$health" in '{"ok":true,'*) ;; *) die "health answered: $health" ;; esac
say "health body: $health"
[ "$health" = "$(curl -sS "$SAME")" ] || die "/same does not answer the health body; update SAME_BODY"
code=$(curl -s -o /dev/null -w '%{http_code}' "$HEALTH")
[ "$code" = 401 ] || die "health without a token answered $code, not 401"

PROBLEMS=0

# wrk_run NAME CONNS URL -> "rps p50_us p99_us non2xx sockerr"
wrk_run() {
    local out=$RESULTS/wrk-$1.txt
    wrk -t1 -c"$2" -d"$DURATION" --latency -H "Authorization: Bearer $TOKEN" "$3" > "$out" 2>&1 \
        || die "wrk failed: $(cat "$out")"
    perl -e '
        my %u = (us => 1, ms => 1000, s => 1e6);
        my ($rps, %p, $non2xx, $err) = (0);
        $non2xx = $err = 0;
        while (<STDIN>) {
            $rps = $1 if /^Requests\/sec:\s+([\d.]+)/;
            $p{$1} = $2 * $u{$3} if /^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$/;
            $non2xx = $1 if /Non-2xx or 3xx responses:\s+(\d+)/;
            $err += $_ for /(?:connect|read|write|timeout) (\d+)/g;
        }
        printf "%.0f %.0f %.0f %d %d\n", $rps, $p{50} // 0, $p{99} // 0, $non2xx, $err;
    ' < "$out"
}

# hb_run NAME CONNS URL -> "rps p50 p90 p99 p999 max non200 errors"
hb_run() {
    local out=$RESULTS/httpbench-$1.txt
    "$HTTPBENCH" -c "$2" -d "$HB_DURATION" -w 0.5 -H "Authorization: Bearer $TOKEN" "$3" > "$out" 2>&1 \
        || die "httpbench failed: $(cat "$out")"
    perl -ne 'my %v = /(\w+)=([\d.]+)/g;
              print join(" ", @v{qw(rps p50_us p90_us p99_us p999_us max_us non200 errors)}), "\n"
                  if /^requests=/' "$out"
}

rss0=$(proc_kb "$W" VmRSS)

say ""
say "command: wrk -t1 -c{50,1} -d$DURATION --latency -H 'Authorization: Bearer <token>' URL"
say "$(printf '%-18s %10s %9s %9s %8s %8s' case req/s p50_us p99_us non2xx sockerr)"
for c in 50 1; do
    for side in a c b; do
        case $side in
            a) url=$PLAIN; name=plain ;;
            c) url=$SAME; name=same ;;
            *) url=$HEALTH; name=health ;;
        esac
        log "wrk -c$c $DURATION $name"
        read -r rps p50 p99 bad err < <(wrk_run "$name-c$c" "$c" "$url")
        eval "wrk_${side}_$c=\$rps wrk_${side}_p50_$c=\$p50"
        say "$(printf '%-18s %10s %9s %9s %8s %8s' "($side) $name c$c" "$rps" "$p50" "$p99" "$bad" "$err")"
        [ "$bad$err" = 00 ] || PROBLEMS=1
    done
done
say "wrk ratio b/a req/s: c50 $(ratio "$wrk_b_50" "$wrk_a_50"), c1 $(ratio "$wrk_b_1" "$wrk_a_1");" \
    "p50 b/a: c50 $(ratio "$wrk_b_p50_50" "$wrk_a_p50_50"), c1 $(ratio "$wrk_b_p50_1" "$wrk_a_p50_1")"
say "wrk ratio b/c req/s: c50 $(ratio "$wrk_b_50" "$wrk_c_50"), c1 $(ratio "$wrk_b_1" "$wrk_c_1")"

say ""
say "command: build/bench/httpbench -c {50,1} -d $HB_DURATION -w 0.5 -H 'Authorization: Bearer <token>' URL; $ROUNDS interleaved rounds"
say "$(printf '%-18s %10s %8s %8s %8s %8s %8s %7s %7s' case req/s p50_us p90_us p99_us p999_us max_us non200 errors)"
for c in 50 1; do
    : > "$RESULTS/ratios-c$c.txt"
    for r in $(seq 1 "$ROUNDS"); do
        log "httpbench -c$c round $r"
        read -r arps ap50 ap90 ap99 ap999 amax abad aerr < <(hb_run "plain-c$c-r$r" "$c" "$PLAIN")
        read -r crps cp50 cp90 cp99 cp999 cmax cbad cerr < <(hb_run "same-c$c-r$r" "$c" "$SAME")
        read -r brps bp50 bp90 bp99 bp999 bmax bbad berr < <(hb_run "health-c$c-r$r" "$c" "$HEALTH")
        say "$(printf '%-18s %10s %8s %8s %8s %8s %8s %7s %7s' "(a) plain c$c r$r" $arps $ap50 $ap90 $ap99 $ap999 $amax $abad $aerr)"
        say "$(printf '%-18s %10s %8s %8s %8s %8s %8s %7s %7s' "(c) same c$c r$r" $crps $cp50 $cp90 $cp99 $cp999 $cmax $cbad $cerr)"
        say "$(printf '%-18s %10s %8s %8s %8s %8s %8s %7s %7s' "(b) health c$c r$r" $brps $bp50 $bp90 $bp99 $bp999 $bmax $bbad $berr)"
        echo "$(ratio "$brps" "$arps") $(ratio "$bp50" "$ap50") $(ratio "$bp99" "$ap99") $((bp50 - ap50)) $(ratio "$brps" "$crps") $(ratio "$bp50" "$cp50")" >> "$RESULTS/ratios-c$c.txt"
        [ "$abad$aerr$bbad$berr$cbad$cerr" = 000000 ] || PROBLEMS=1
    done
done
for c in 50 1; do
    f=$RESULTS/ratios-c$c.txt
    say "httpbench c$c, median of $ROUNDS rounds: req/s b/a $(cut -d' ' -f1 "$f" | stats | cut -d' ' -f1)," \
        "p50 b/a $(cut -d' ' -f2 "$f" | stats | cut -d' ' -f1), p99 b/a $(cut -d' ' -f3 "$f" | stats | cut -d' ' -f1)," \
        "p50 b-a $(cut -d' ' -f4 "$f" | stats | cut -d' ' -f1 | cut -d. -f1) us;" \
        "req/s b/c $(cut -d' ' -f5 "$f" | stats | cut -d' ' -f1), p50 b/c $(cut -d' ' -f6 "$f" | stats | cut -d' ' -f1)"
done
say "added worker time per request under load (wrk c50: 1/b - 1/a): $(perl -e 'printf "%.1f", 1e6/$ARGV[0] - 1e6/$ARGV[1]' "$wrk_b_50" "$wrk_a_50") us"

rss1=$(proc_kb "$W" VmRSS)
total=$( { cat "$RESULTS"/wrk-*.txt | awk '/requests in/ {print $1}'
           sed -n 's/^requests=\([0-9]*\).*/\1/p' "$RESULTS"/httpbench-*.txt; } | awk '{s += $1} END {print s}')
say "worker VmRSS: $rss0 kB before, $rss1 kB after ~$total requests"

# still healthy afterwards?
health2=$(bridge GET "$API/health")
case "$health2" in '{"ok":true,'*) ;; *) say "PROBLEM: health after the load answered: $health2" ;; esac

log "redis-benchmark"
redis-benchmark -h 127.0.0.1 -p "$TEST_NGINX_REDIS_PORT" -t ping,get -c 50 -n 100000 -q \
    > "$RESULTS/redis-benchmark-c50.txt" 2>&1
redis-benchmark -h 127.0.0.1 -p "$TEST_NGINX_REDIS_PORT" -t ping -c 1 -n 20000 -q \
    > "$RESULTS/redis-benchmark-c1.txt" 2>&1
say ""
say "reference: redis-benchmark -t ping,get -c 50 -n 100000 -q (same Redis):"
tr '\r' '\n' < "$RESULTS/redis-benchmark-c50.txt" | grep 'requests per second' | sed 's/^ */    /' | tee -a "$RESULTS/summary.txt"
say "reference: redis-benchmark -t ping -c 1 -n 20000 -q:"
tr '\r' '\n' < "$RESULTS/redis-benchmark-c1.txt" | grep 'requests per second' | sed 's/^ */    /' | tee -a "$RESULTS/summary.txt"
[ "$PROBLEMS" = 0 ] || say "PROBLEM: non-2xx responses or socket errors (see $RESULTS/{wrk,httpbench}-*.txt)"
nginx_log_summary
