#!/usr/bin/env bash
# bench/stream.sh -- exec output throughput: bridge (SSE and JSON) versus
# the same exec made directly on the Docker API.
#
# Payload: `head -c $BYTES /dev/zero | base64` (default 200 000 000 bytes
# of zeros -> 270 175 440 bytes of base64 text with a newline every 76
# characters), run in one lease container (1 CPU, as the module creates
# it), with the module's command line (sh -lc '<login prologue> && cd /
# && exec sh -c ...') on both paths: the direct path replays the exec body
# the module sent for the same command (captured, see lib.sh).
#
#   direct   exec create + exec start with curl --unix-socket to /dev/null
#            (time = sum of both calls' time_total; bytes = Docker's framed
#            raw stream, 8-byte header per frame)
#   sse      POST /exec {"streamOutput":true} through the bridge, curl to
#            /dev/null: the location as in the README (proxy_buffering off,
#            default proxy_buffer_size = one page)
#   sse64k   the same with proxy_buffer_size 64k on the Docker location
#   json     streamOutput:false with the default sandbox_output_limit (8m:
#            the result is truncated, "outputTruncated":true)
#   jsonbig  streamOutput:false with sandbox_output_limit 400m (the whole
#            output in one JSON body)
# MB = 10^6 bytes.  "payload MB/s" = base64 bytes the command wrote / time.
# A 5 MB run through both SSE locations is decoded and checked byte for
# byte first (and tells the average size of a stdout event).
#
# Each case runs REPS times, interleaved; the least disturbed (fastest) run
# of each is reported, with its CPU accounting.
# Knobs: BYTES (default 200000000), REPS (default 2).
. "$(dirname "$0")/lib.sh"

BYTES=${BYTES:-200000000}
REPS=${REPS:-2}

bench_init 170

NGX_EXTRA_SERVER="
        # same bridge, larger result cap
        location /big$API {
            sandbox_auth bearer;
            sandbox_auth_token_file @PFX@/conf/tokens;
            sandbox_output_limit 400m;
            sandbox_bridge;
        }

        # same bridge, 64k reads from Docker
        location /buf64$API {
            sandbox_auth bearer;
            sandbox_auth_token_file @PFX@/conf/tokens;
            sandbox_docker_location /_docker64;
            sandbox_bridge;
        }

        location /_docker64/ {
            internal;
            proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
            proxy_http_version 1.0;
            proxy_buffering off;
            proxy_buffer_size 64k;
            proxy_buffers 4 64k;
            proxy_read_timeout 1d;
            proxy_send_timeout 1h;
        }
"
nginx_start
W=$(worker_pid)

LEASE=$(acquire stream)
CONTAINER=$CONTAINER_PREFIX$LEASE
CID=$(container_id "$CONTAINER")
log "lease $LEASE, container $CONTAINER"

script_for() { echo "head -c $1 /dev/zero | base64"; }
exec_body() {    # exec_body BYTES STREAM(true|false)
    perl -MJSON::PP -e 'print encode_json({providerLeaseId => $ARGV[0], command => "sh",
        args => ["-c", $ARGV[1]], streamOutput => $ARGV[2] eq "true" ? JSON::PP::true : JSON::PP::false})' \
        "$LEASE" "$(script_for "$1")" "$2"
}

# the exec-create body the module sends, captured (lib.sh: /cap copy of the
# bridge) from a 1000-byte run of the same command; the direct path
# replays it with the byte count changed and a fresh PSB_EXEC marker
bridge POST "/cap$API/exec" "$(exec_body 1000 true)" > /dev/null
EXEC_TEMPLATE=$(docker_bodies '/containers/[^/]+/exec$' | tail -n 1)
case "$EXEC_TEMPLATE" in *"$(script_for 1000)"*) ;; *) die "no exec body captured: $EXEC_TEMPLATE" ;; esac
docker_exec_body() {
    fresh_marker "${EXEC_TEMPLATE//"$(script_for 1000)"/"$(script_for "$1")"}"
}

PAYLOAD=$(head -c "$BYTES" /dev/zero | base64 | wc -c)
NEWLINES=$(( (PAYLOAD + 76) / 77 ))

# run_direct -> "bytes seconds cpu(worker docker container busy)"
run_direct() {
    local out e t1 t2 s0 s1
    s0=$(cpu_snapshot "$W" "$CID")
    out=$(curl -sS --max-time 120 --unix-socket "$TEST_NGINX_DOCKER_SOCKET" -H 'Content-Type: application/json' \
               --data-binary "$(docker_exec_body "$BYTES")" -w '\n%{http_code} %{time_total}' \
               "http://docker/v1.41/containers/$CONTAINER/exec")
    t1=${out##*$'\n'}
    [ "${t1%% *}" = 201 ] || die "exec create: $out"
    e=$(perl -MJSON::PP -e 'print decode_json($ARGV[0])->{Id}' "${out%$'\n'*}")
    t2=$(curl -sS --max-time 120 --unix-socket "$TEST_NGINX_DOCKER_SOCKET" -H 'Content-Type: application/json' \
              --data-binary '{"Detach":false,"Tty":false}' -o /dev/null -w '%{http_code} %{time_total} %{size_download}' \
              "http://docker/v1.41/exec/$e/start")
    [ "${t2%% *}" = 200 ] || die "exec start: $t2"
    code=$(dk GET "/exec/$e/json" | perl -MJSON::PP -e 'local $/; print decode_json(<STDIN>)->{ExitCode}')
    [ "$code" = 0 ] || die "direct exec exited $code"
    s1=$(cpu_snapshot "$W" "$CID")
    perl -e 'my ($c1, $t1) = split / /, $ARGV[0]; my ($c2, $t2, $n) = split / /, $ARGV[1];
             printf "%d %.6f %s\n", $n, $t1 + $t2, $ARGV[2]' "$t1" "$t2" "$(cpu_delta "$s0" "$s1")"
}

# run_bridge PATHPREFIX STREAM [OUTFILE] -> "bytes seconds cpu(worker docker container busy)"
run_bridge() {
    local out c0 c1
    c0=$(cpu_snapshot "$W" "$CID")
    out=$(curl -sS --max-time 150 -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
               --data-binary "$(exec_body "$BYTES" "$2")" -o "${3:-/dev/null}" \
               -w '%{http_code} %{time_total} %{size_download}' "http://127.0.0.1:$PORT$1$API/exec")
    c1=$(cpu_snapshot "$W" "$CID")
    [ "${out%% *}" = 200 ] || die "bridge exec answered: $out"
    perl -e 'my ($c, $t, $n) = split / /, $ARGV[0]; printf "%d %.6f %s\n", $n, $t, $ARGV[1]' "$out" "$(cpu_delta "$c0" "$c1")"
}

mbs() { perl -e 'printf "%.1f", $ARGV[0] / $ARGV[1] / 1e6' "$1" "$2"; }

# ---------------------------------------------------------------- correctness
say ""
say "payload: head -c $BYTES /dev/zero | base64 = $PAYLOAD bytes ($NEWLINES lines)"
small=5000000
want=$(head -c $small /dev/zero | base64 | sha256sum | cut -d' ' -f1)
wantlen=$(head -c $small /dev/zero | base64 | wc -c)
for loc in "" /buf64; do
    curl -sS --max-time 60 -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
         --data-binary "$(exec_body $small true)" "http://127.0.0.1:$PORT$loc$API/exec" \
        | "$CLIENT" sse-decode > "$RESULTS/check${loc#/}.txt"
    read -r line < "$RESULTS/check${loc#/}.txt"
    got=$(sed -n 's/.*stdout_sha256=\([0-9a-f]*\).*/\1/p' <<<"$line")
    ev=$(sed -n 's/.*stdout_events=\([0-9]*\).*/\1/p' <<<"$line")
    ok=OK
    [ "$got" = "$want" ] && grep -q 'complete_exit=0 ' <<<"$line" && grep -q 'errors=0 ' <<<"$line" || ok=MISMATCH
    say "check ${loc:-(default)} $small B: $ok, $ev stdout events, $(perl -e 'printf "%.0f", $ARGV[0] / $ARGV[1]' "$wantlen" "$ev") B/event avg ($line)"
    [ "$ok" = OK ] || say "PROBLEM: SSE output of ${loc:-the default location} differs from the command's output"
done

# ---------------------------------------------------------------- timed runs
for f in direct sse sse64k; do : > "$RESULTS/$f.txt"; done
for r in $(seq 1 "$REPS"); do
    log "round $r/$REPS: direct"
    run_direct >> "$RESULTS/direct.txt"
    log "round $r/$REPS: bridge SSE"
    run_bridge "" true >> "$RESULTS/sse.txt"
    log "round $r/$REPS: bridge SSE, proxy_buffer_size 64k"
    run_bridge /buf64 true >> "$RESULTS/sse64k.txt"
done

hwm0=$(proc_kb "$W" VmHWM)
rss0=$(proc_kb "$W" VmRSS)
log "JSON, default sandbox_output_limit"
read -r jb jt jcpu < <(run_bridge "" false "$RESULTS/json-default.out" | { read -r a b c; echo "$a $b $c"; })
jinfo=$(perl -MJSON::PP -e 'local $/; my $j = decode_json(<STDIN>);
    printf "exitCode=%s outputTruncated=%s stdout=%d B", $j->{exitCode}, $j->{outputTruncated} ? "true" : "absent", length $j->{stdout}' \
    < "$RESULTS/json-default.out")
rm -f "$RESULTS/json-default.out"
log "JSON, sandbox_output_limit 400m"
read -r gb gt gcpu < <(run_bridge /big false | { read -r a b c; echo "$a $b $c"; })
hwm1=$(proc_kb "$W" VmHWM)
sleep 1
rss1=$(proc_kb "$W" VmRSS)

# ---------------------------------------------------------------- report
# summ FILE -> "wire_MBps min max payload_MBps secs bytes cpu_worker cpu_docker cpu_container cpu_busy"
# (the fastest round: the least disturbed by other load)
summ() {
    perl -e '
        my $payload = $ARGV[0];
        open my $f, "<", $ARGV[1] or die;
        my @r = sort { $a->[1] <=> $b->[1] } map { [split] } <$f>;
        my $m = $r[0];
        my @w = sort { $a <=> $b } map { $_->[0] / $_->[1] / 1e6 } @r;
        printf "%.1f %.1f %.1f %.1f %.3f %d %.2f %.2f %.2f %.2f\n", $m->[0] / $m->[1] / 1e6, $w[0], $w[-1],
            $payload / $m->[1] / 1e6, $m->[1], $m->[0], @$m[2 .. 5];
    ' "$PAYLOAD" "$1"
}
echo "$jb $jt $jcpu" > "$RESULTS/json-default.txt"
echo "$gb $gt $gcpu" > "$RESULTS/json-big.txt"
read -r d_w d_min d_max d_p d_t d_b d_cw d_cd d_cc d_cb < <(summ "$RESULTS/direct.txt")
read -r s_w s_min s_max s_p s_t s_b s_cw s_cd s_cc s_cb < <(summ "$RESULTS/sse.txt")
read -r k_w k_min k_max k_p k_t k_b k_cw k_cd k_cc k_cb < <(summ "$RESULTS/sse64k.txt")
read -r j_w _ _ j_p j_t j_b j_cw j_cd j_cc j_cb < <(summ "$RESULTS/json-default.txt")
read -r g_w _ _ g_p g_t g_b g_cw g_cd g_cc g_cb < <(summ "$RESULTS/json-big.txt")

row() { say "$(printf '%-32s %11s %7s %18s %8s %6s | %6s %6s %6s %6s %6s' "$@")"; }
say ""
say "$REPS interleaved rounds (direct, sse, sse64k), fastest round shown, [min-max] wire MB/s over the rounds; MB = 10^6 B"
row path wire_bytes time_s 'wire MB/s' 'payld/s' ratio nginx docker contnr busy other
row "direct Docker (curl, raw)" "$d_b" "$d_t" "$d_w [$d_min-$d_max]" "$d_p" 1.00 "$d_cw" "$d_cd" "$d_cc" "$d_cb" "$(perl -e 'printf "%.2f", $ARGV[0]-$ARGV[1]-$ARGV[2]-$ARGV[3]' "$d_cb" "$d_cw" "$d_cd" "$d_cc")"
row "bridge SSE (README config)" "$s_b" "$s_t" "$s_w [$s_min-$s_max]" "$s_p" "$(ratio "$s_p" "$d_p")" "$s_cw" "$s_cd" "$s_cc" "$s_cb" "$(perl -e 'printf "%.2f", $ARGV[0]-$ARGV[1]-$ARGV[2]-$ARGV[3]' "$s_cb" "$s_cw" "$s_cd" "$s_cc")"
row "bridge SSE, proxy_buffer_size 64k" "$k_b" "$k_t" "$k_w [$k_min-$k_max]" "$k_p" "$(ratio "$k_p" "$d_p")" "$k_cw" "$k_cd" "$k_cc" "$k_cb" "$(perl -e 'printf "%.2f", $ARGV[0]-$ARGV[1]-$ARGV[2]-$ARGV[3]' "$k_cb" "$k_cw" "$k_cd" "$k_cc")"
row "bridge JSON, output_limit 8m" "$j_b" "$j_t" "$j_w" "$j_p" "$(ratio "$j_p" "$d_p")" "$j_cw" "$j_cd" "$j_cc" "$j_cb" "$(perl -e 'printf "%.2f", $ARGV[0]-$ARGV[1]-$ARGV[2]-$ARGV[3]' "$j_cb" "$j_cw" "$j_cd" "$j_cc")"
row "bridge JSON, output_limit 400m" "$g_b" "$g_t" "$g_w" "$g_p" "$(ratio "$g_p" "$d_p")" "$g_cw" "$g_cd" "$g_cc" "$g_cb" "$(perl -e 'printf "%.2f", $ARGV[0]-$ARGV[1]-$ARGV[2]-$ARGV[3]' "$g_cb" "$g_cw" "$g_cd" "$g_cc")"
say "payld/s = payload MB/s (base64 bytes the command wrote / time); ratio = payld/s of the path / payld/s direct"
say "CPU seconds during the run: nginx worker | dockerd+containerd+shim | the container (1-CPU limit) |"
say "  whole machine busy (2 CPUs) | other = busy minus those three (curl, and other users of the machine)"
say "JSON, 8m cap: $jinfo"
say "JSON, 400m cap: body $gb B for a $PAYLOAD B output; worker VmHWM $hwm0 -> $hwm1 kB (peak $(( (hwm1) / 1024 )) MB = $(perl -e 'printf "%.1f", $ARGV[0] * 1024 / $ARGV[1]' "$hwm1" "$PAYLOAD") x the output), VmRSS $rss0 -> $rss1 kB (1 s after)"
[ "$gb" -gt "$PAYLOAD" ] || say "PROBLEM: the 400m JSON body is smaller than the output"

release "$LEASE"
nginx_log_summary
