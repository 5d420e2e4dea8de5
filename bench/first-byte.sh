#!/usr/bin/env bash
# bench/first-byte.sh -- time to the first byte of command output.
#
# One lease; the command is `echo hi` with streamOutput:true.  Per round
# (N rounds, interleaved, after WARMUP rounds):
#   curl      POST /exec through the bridge: %{time_starttransfer} (the
#             module sends the SSE response header before it starts the
#             command, so this is header time) and %{time_total}
#   client    bench/psb-client.pl fb-bridge: time to the response header,
#             to the first `event: stdout` line, and to the end of the
#             stream (after `event: complete`), HTTP/1.1 + chunked
#   direct    bench/psb-client.pl fb-docker: the same exec on the Docker
#             socket -- exec create (with the body the module sent for
#             this command, captured through the /cap copy of the bridge,
#             see lib.sh), exec start, time to the first complete stdout
#             frame, to the end of the stream, and after exec inspect
# Reports median/p90 and the ratios bridge/direct for the first byte and
# for the whole exec.
#
# Knobs: N (default 20), WARMUP (default 3).
. "$(dirname "$0")/lib.sh"

N=${N:-20}
WARMUP=${WARMUP:-3}

bench_init 150
nginx_start

LEASE=$(acquire first-byte)
CONTAINER=$CONTAINER_PREFIX$LEASE
BODY='{"providerLeaseId":"'$LEASE'","command":"echo","args":["hi"],"streamOutput":true}'

# the exec body the module sends for this command
out=$(bridge POST "/cap$API/exec" "$BODY")
case "$out" in *'event: complete'*'"exitCode":0'*) ;; *) die "capture exec: $out" ;; esac
docker_bodies '/containers/[^/]+/exec$' | tail -n 1 > "$RESULTS/exec-body.json"
grep -q "'echo' 'hi'" "$RESULTS/exec-body.json" || die "no exec body captured"

curl_run() {
    local out
    out=$(curl -sS --max-time 30 -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
               --data-binary "$BODY" -o "$RESULTS/curl-body.tmp" \
               -w '%{http_code} %{time_starttransfer} %{time_total}' "http://127.0.0.1:$PORT$API/exec")
    [ "${out%% *}" = 200 ] && grep -q '^event: stdout' "$RESULTS/curl-body.tmp" \
        && grep -q '"exitCode":0' "$RESULTS/curl-body.tmp" || die "bridge exec: $out $(cat "$RESULTS/curl-body.tmp")"
    perl -e 'my (undef, $s, $t) = split / /, $ARGV[0]; printf "%.3f %.3f\n", $s * 1000, $t * 1000' "$out"
}
client_run() { "$CLIENT" fb-bridge 127.0.0.1 "$PORT" "$TOKEN" "$API/exec" "$LEASE" 1; }
direct_run() { "$CLIENT" fb-docker "$TEST_NGINX_DOCKER_SOCKET" "$CONTAINER" 1 "$RESULTS/exec-body.json"; }

log "warm-up: $WARMUP rounds"
for i in $(seq 1 "$WARMUP"); do curl_run >/dev/null; client_run >/dev/null; direct_run >/dev/null; done
: > "$RESULTS/curl.txt"; : > "$RESULTS/client.txt"; : > "$RESULTS/direct.txt"
log "$N rounds"
for i in $(seq 1 "$N"); do
    curl_run >> "$RESULTS/curl.txt"
    client_run >> "$RESULTS/client.txt"
    direct_run >> "$RESULTS/direct.txt"
done
rm -f "$RESULTS/curl-body.tmp"
release "$LEASE"

st() { cut -d' ' -f"$1" "$2" | stats; }
read -r c_s50 c_s90 _ < <(st 1 "$RESULTS/curl.txt")
read -r c_t50 c_t90 _ < <(st 2 "$RESULTS/curl.txt")
read -r b_h50 b_h90 _ < <(st 1 "$RESULTS/client.txt")
read -r b_f50 b_f90 _ < <(st 2 "$RESULTS/client.txt")
read -r b_e50 b_e90 _ < <(st 3 "$RESULTS/client.txt")
read -r d_c50 d_c90 _ < <(st 1 "$RESULTS/direct.txt")
read -r d_f50 d_f90 _ < <(st 2 "$RESULTS/direct.txt")
read -r d_e50 d_e90 _ < <(st 3 "$RESULTS/direct.txt")
read -r d_i50 d_i90 _ < <(st 4 "$RESULTS/direct.txt")

row() { say "$(printf '%-58s %9s %9s' "$@")"; }
say ""
say "N=$N interleaved rounds after $WARMUP warm-up rounds; exec 'echo hi', streamOutput:true; ms"
row "" median p90
row "bridge, curl %{time_starttransfer} (SSE header)" "$c_s50" "$c_s90"
row "bridge, curl %{time_total}" "$c_t50" "$c_t90"
row "bridge, client: response header" "$b_h50" "$b_h90"
row "bridge, client: first 'event: stdout' line" "$b_f50" "$b_f90"
row "bridge, client: stream end (after 'event: complete')" "$b_e50" "$b_e90"
row "direct, exec create answered" "$d_c50" "$d_c90"
row "direct, first stdout frame (create + start)" "$d_f50" "$d_f90"
row "direct, stream end" "$d_e50" "$d_e90"
row "direct, after exec inspect (exit code known)" "$d_i50" "$d_i90"
say "ratio first byte bridge/direct: median $(ratio "$b_f50" "$d_f50"), p90 $(ratio "$b_f90" "$d_f90");" \
    "difference $(perl -e 'printf "%.2f", $ARGV[0] - $ARGV[1]' "$b_f50" "$d_f50") ms"
say "ratio whole exec (bridge stream end / direct after inspect): median $(ratio "$b_e50" "$d_i50"), p90 $(ratio "$b_e90" "$d_i90")"
nginx_log_summary
