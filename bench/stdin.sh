#!/usr/bin/env bash
# bench/stdin.sh -- the nginx worker's memory per byte of exec stdin, and
# Paperclip's workspace sync times (README "Limits").
#
#   1. For each stdin size (SIZES, MiB of base64; default "4 20 96"): a
#      fresh nginx (a new worker, so its VmHWM starts anew) with the
#      default limits, one lease, a warm-up exec with a 1 KB stdin, then
#      one exec whose stdin is that much base64 (`base64 -d > f &&
#      sha256sum f`, checked against sha256sum here). Reported: the
#      worker's VmHWM before and after, and (after - before) / stdin size,
#      the peak memory the stdin cost per byte of it.
#   2. The memory goes back once Docker has the stdin file: VmRSS
#      sampled while a 40 MiB stdin exec's command sleeps 3 s; /health
#      requests meanwhile show how long the worker is busy with the body.
#   3. Paperclip's sync of a 20 MiB file as production does it: writeFile
#      in 4 MiB base64 chunks (`base64 -d >>`), readFile in 3 MiB `dd |
#      base64` reads, and the same file as one 26.7 MB stdin; times, and
#      the bytes read back are checked.
#
# BASE_SO=<module .so> runs step 1 with that module too (with
# client_max_body_size 0, sandbox_max_body_size 128m and
# sandbox_max_stdin_size 100m, so an older build with smaller defaults
# takes the same stdins): the same-run comparison.
. "$(dirname "$0")/lib.sh"

SIZES=${SIZES:-4 20 96}
MiB=1048576

bench_init 170
bench_need base64 coreutils

DATA=$RESULTS/data
mkdir -p "$DATA"

# exec_body FILE CMD [STREAM] < stdin-bytes: the JSON body, stdin as given
exec_body() {
    printf '{"providerLeaseId":"%s","command":"sh","args":["-c","%s"]%s,"stdin":"' \
        "$LEASE" "$2" "${3:+,\"streamOutput\":true}" > "$1"
    cat >> "$1"
    printf '"}' >> "$1"
}
post() {         # post BODYFILE -> response body on stdout
    curl -sS --max-time 120 -X POST -H "Authorization: Bearer $TOKEN" \
         -H 'Content-Type: application/json' --data-binary "@$1" \
         "http://127.0.0.1:$PORT$API/exec"
}
stdout_of() {    # JSON result or SSE body on stdin -> the command's stdout
    # (base64 and digests: no quote, the only escapes are \n and \/;
    # JSON::PP is too slow for megabytes of string)
    perl -e 'local $/; my $b = <STDIN>; my $o = "";
        my $str = sub { my $s = shift; $s =~ s{\\(.)}{$1 eq "n" ? "\n" : $1}ge; $s };
        if ($b =~ /^event: /m) {
            while ($b =~ /^event: stdout\ndata: \{"data":"([^"]*)"/mg) { $o .= $str->($1) }
            die "no complete event\n" unless $b =~ /^event: complete$/m;
        } elsif ($b =~ /"stdout":"([^"]*)"/) { $o = $str->($1) }
        else { die "no result: $b\n" }
        print $o'
}
now() { date +%s.%N; }
el()  { perl -e 'printf "%.2f", $ARGV[1] - $ARGV[0]' "$1" "$2"; }

# memory SO LABEL [EXTRA_SERVER_CONF]
memory() {
    local so=$1 label=$2 mib w hwm0 rss0 hwm1 sum want got t0 t1
    say ""
    say "worker memory per stdin byte, $label:"
    for mib in $SIZES; do
        SO=$so NGX_EXTRA_SERVER=${3:-} nginx_start
        LEASE=$(acquire "stdin-$mib")
        w=$(worker_pid)
        head -c 768 /dev/urandom | base64 -w0 | exec_body "$DATA/warm.json" 'base64 -d > /tmp/w'
        post "$DATA/warm.json" | grep -q '"exitCode":0' || die "warm-up exec failed"
        head -c $(( mib * MiB * 3 / 4 )) /dev/urandom > "$DATA/raw"
        want=$(sha256sum < "$DATA/raw" | cut -d' ' -f1)
        base64 -w0 < "$DATA/raw" | exec_body "$DATA/big.json" 'base64 -d > /tmp/f && sha256sum < /tmp/f && rm /tmp/f'
        sleep 0.5
        hwm0=$(proc_kb "$w" VmHWM)
        rss0=$(proc_kb "$w" VmRSS)
        t0=$(now)
        got=$(post "$DATA/big.json" | stdout_of | cut -d' ' -f1) || true
        t1=$(now)
        hwm1=$(proc_kb "$w" VmHWM)
        [ "$got" = "$want" ] || say "PROBLEM: $mib MiB stdin: sha256 in the sandbox is '$got', sent $want"
        sum=$(stat -c %s "$DATA/big.json")
        say "  $mib MiB of base64 (body $sum bytes): VmHWM $hwm0 -> $hwm1 kB (VmRSS before $rss0 kB);" \
            "peak per stdin byte $(perl -e 'printf "%.2f", ($ARGV[1] - $ARGV[0]) * 1024 / $ARGV[2]' "$hwm0" "$hwm1" $(( mib * MiB )))x;" \
            "exec $(el "$t0" "$t1") s"
        release "$LEASE"
        nginx_log_summary
        nginx_stop
        rm -f "$DATA/raw" "$DATA/big.json"
    done
}

memory "$SO" "this module, default limits"
if [ -n "${BASE_SO:-}" ]; then
    memory "$BASE_SO" "BASE_SO $(sha256sum "$BASE_SO" | cut -c1-12)" \
        '        client_max_body_size 0; sandbox_max_body_size 128m; sandbox_max_stdin_size 100m;'
fi

# ---------------------------------------------------------------- freed early
# the stdin's memory goes back once Docker has the file, while the
# command still runs: VmRSS sampled during a 40 MiB stdin exec whose
# command sleeps 3 s after writing the file (over glibc's largest mmap
# threshold, 32 MiB, so a freed buffer leaves the process at once; a
# smaller one is kept by malloc for the next request)
say ""
nginx_start
LEASE=$(acquire stdin-free)
w=$(worker_pid)
head -c $(( 30 * MiB )) /dev/urandom | base64 -w0 \
    | exec_body "$DATA/free.json" 'base64 -d > /tmp/f && sleep 3 && rm /tmp/f'
post "$DATA/free.json" > /dev/null    # warm-up: the first buffers of each kind
rss0=$(proc_kb "$w" VmRSS)
post "$DATA/free.json" > "$DATA/free.out" &
BENCH_CHILD_PIDS=$!
: > "$DATA/rss"
: > "$DATA/health"
while kill -0 "$BENCH_CHILD_PIDS" 2>/dev/null; do
    proc_kb "$w" VmRSS >> "$DATA/rss"
    # the worker's event loop: how long a /health waits meanwhile
    curl -s -o /dev/null -w '%{time_total}\n' --max-time 10 \
         -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$API/health" \
         >> "$DATA/health" || true
    sleep 0.05
done
wait "$BENCH_CHILD_PIDS" || true
BENCH_CHILD_PIDS=
grep -q '"exitCode":0' "$DATA/free.out" || say "PROBLEM: the sleeping exec failed: $(head -c 200 "$DATA/free.out")"
say "40 MiB stdin, command sleeping 3 s after writing it: worker VmRSS before $rss0 kB," \
    "peak $(sort -n "$DATA/rss" | tail -n 1) kB, in the command's last second" \
    "$(tail -n 10 "$DATA/rss" | sort -n | tail -n 1) kB (max of the last 10 of $(wc -l < "$DATA/rss") samples)"
say "  /health meanwhile (median p90 mean min max n, s): $(stats < "$DATA/health")"
release "$LEASE"
nginx_stop

# ---------------------------------------------------------------- 20 MiB sync
say ""
say "Paperclip's sync of a 20 MiB file (default limits):"
nginx_start
LEASE=$(acquire stdin-sync)
head -c $(( 20 * MiB )) /dev/urandom > "$DATA/f20"
want=$(sha256sum < "$DATA/f20" | cut -d' ' -f1)
CHUNK=$(( 3 * MiB ))
N=$(( (20 * MiB + CHUNK - 1) / CHUNK ))

t0=$(now)
for i in $(seq 0 $(( N - 1 ))); do
    op='>>'; [ "$i" = 0 ] && op='>'
    dd if="$DATA/f20" bs=$CHUNK skip="$i" count=1 2>/dev/null | base64 -w0 \
        | exec_body "$DATA/c.json" "base64 -d $op /tmp/f20" stream
    post "$DATA/c.json" | grep -q '^event: complete' || die "chunk $i failed"
done
t1=$(now)
post_cmd() { printf '' | exec_body "$DATA/c.json" "$1" ${2:-}; post "$DATA/c.json"; }
got=$(post_cmd 'sha256sum < /tmp/f20' | stdout_of | cut -d' ' -f1)
[ "$got" = "$want" ] || say "PROBLEM: chunked write: sha256 in the sandbox is '$got'"
say "  writeFile, $N execs of 4 MiB base64 stdin (SSE): $(el "$t0" "$t1") s"

for mode in json sse; do
    t0=$(now)
    : > "$DATA/back"
    for i in $(seq 0 $(( N - 1 ))); do
        post_cmd "dd if=/tmp/f20 bs=$CHUNK skip=$i count=1 2>/dev/null | base64" \
            "$([ $mode = sse ] && echo stream)" | stdout_of | base64 -d >> "$DATA/back"
    done
    t1=$(now)
    cmp -s "$DATA/f20" "$DATA/back" || say "PROBLEM: readFile ($mode): the bytes read back differ"
    say "  readFile, $N execs of 'dd bs=3145728 | base64' ($mode): $(el "$t0" "$t1") s"
done

t0=$(now)
base64 -w0 < "$DATA/f20" | exec_body "$DATA/c.json" 'base64 -d > /tmp/g20 && sha256sum < /tmp/g20 && rm /tmp/f20 /tmp/g20'
t1=$(now)
got=$(post "$DATA/c.json" | stdout_of | cut -d' ' -f1)
t2=$(now)
[ "$got" = "$want" ] || say "PROBLEM: single-stream write: sha256 in the sandbox is '$got'"
say "  writeFile, one exec with the whole file as base64 stdin ($(stat -c %s "$DATA/c.json") bytes): $(el "$t1" "$t2") s"
release "$LEASE"
nginx_log_summary
nginx_stop
rm -rf "$DATA"
