#!/usr/bin/env bash
# bench/idle-streams.sh -- nginx worker memory per open, idle exec stream,
# and clean-up when the clients go away.
#
#   1. LEASES leases through the bridge (default 10; the streams are spread
#      round-robin over them, STREAMS/LEASES commands per container).
#   2. Worker VmRSS (median of 3 samples) and open fds, idle.
#   3. bench/psb-client.pl opens STREAMS (default 200) connections, each a
#      streaming exec (`sleep 60`, streamOutput:true), and holds them;
#      wait until every one has its response header and every `sleep 60`
#      runs in the containers (counted on the host: /proc/*/cmdline
#      "sleep 60" in one of the lease containers' cgroups).
#   4. Worker VmRSS and fds again: KB per stream = delta / STREAMS.
#   5. The client closes every socket; the module must kill each command
#      (D11: a second exec in the container finds the command's processes
#      by its PSB_EXEC marker).  The time until no `sleep 60` is left is
#      reported (they would exit by themselves only ~60 s after start).
#   6. RSS/fds after; steps 3-6 run ROUNDS times (growth across rounds
#      would be a leak); then release every lease, nothing may remain.
#
# Knobs: STREAMS (default 200), LEASES (default 10; 1 puts every stream
# in one container -- see bench/README.md before you do that; a
# container runs at most sandbox_pids_limit, 512, processes), ROUNDS
# (default 2), HOLD (seconds between the last header and the
# measurement, default 2), SLEEP (the command's seconds, default 60),
# BATCH (open the streams this many at a time, each batch once the
# previous one has its headers; default all at once), DOCKERDS (Docker
# hosts, default 1: more start extra dockerds, PSB_INSTANCE=<instance>-dN,
# as hosts of the bridge; one dockerd holds ~5 fds per attached exec).
# Many streams (bench/README.md "idle-10k"): the open-file limits are
# raised here (as root) before the services start, so that dockerd gets
# them too; the nginx worker gets worker_rlimit_nofile (lib.sh).
. "$(dirname "$0")/lib.sh"

STREAMS=${STREAMS:-200}
LEASES=${LEASES:-10}
ROUNDS=${ROUNDS:-2}
HOLD=${HOLD:-2}
SLEEP=${SLEEP:-60}
BATCH=${BATCH:-0}
DOCKERDS=${DOCKERDS:-1}

# nginx: client + Docker socket per stream and kills; dockerd: the
# attached exec's connection and pipes; the client: one socket each
need=$(( STREAMS * 6 + 4096 ))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$need" ]; then
    ulimit -Hn "$need" 2>/dev/null || true
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

bench_init $(( 170 + STREAMS * ROUNDS / 10 ))
[ -z "${IDLE_NOTE:-}" ] || say "note: $IDLE_NOTE"
# more Docker hosts: dockerd only (no Redis), the bridge's hosts d1..dN
# (PSB_RUNTIME, exported by the main services' env, would name theirs)
SOCKS=("$TEST_NGINX_DOCKER_SOCKET")
extra_dockerds_stop() {
    local i s ids rc=0
    for i in $(seq 2 "$DOCKERDS"); do
        s=${SOCKS[$((i - 1))]:-}
        if [ -n "$s" ]; then
            ids=$(curl -sS --max-time 30 --unix-socket "$s" -G --data-urlencode all=1 \
                      --data-urlencode "filters={\"label\":[\"paperclip.bridge.prefix=$KEY_PREFIX\"]}" \
                      http://docker/v1.41/containers/json 2>/dev/null \
                  | perl -MJSON::PP -e 'my $j = eval { decode_json(join "", <STDIN>) };
                                      print "$_->{Id}\n" for ref $j eq "ARRAY" ? @$j : ()')
            [ -z "$ids" ] || log "removing $(echo $ids | wc -w) leftover container(s) on dockerd $i"
            for c in $ids; do
                curl -sS --max-time 60 --unix-socket "$s" -X DELETE \
                     "http://docker/v1.41/containers/$c?force=true&v=true" >/dev/null 2>&1 || rc=1
            done
        fi
        PSB_RUNTIME= PSB_NO_REDIS=1 PSB_INSTANCE=$PSB_INSTANCE-d$i "$ROOT/util/services.sh" stop -q \
            >/dev/null 2>&1 || rc=1
    done
    return $rc
}
if [ "$DOCKERDS" -gt 1 ]; then
    BENCH_CLEANUP_HOOK=extra_dockerds_stop
    NGX_DOCKER_LOCATIONS="sandbox_docker_location /_docker name=d1;"
    NGX_EXTRA_SERVER=
    for i in $(seq 2 "$DOCKERDS"); do
        log "starting dockerd $i (PSB_INSTANCE=$PSB_INSTANCE-d$i)"
        PSB_RUNTIME= PSB_NO_REDIS=1 PSB_INSTANCE=$PSB_INSTANCE-d$i "$ROOT/util/services.sh" start -q \
            > "$RESULTS/services-d$i.log" 2>&1 || die "dockerd $i did not start"
        s=$(. "$(PSB_RUNTIME= PSB_INSTANCE=$PSB_INSTANCE-d$i "$ROOT/util/services.sh" env)"; echo "$TEST_NGINX_DOCKER_SOCKET")
        SOCKS+=("$s")
        NGX_DOCKER_LOCATIONS="$NGX_DOCKER_LOCATIONS sandbox_docker_location /_docker$i name=d$i;"
        NGX_EXTRA_SERVER="$NGX_EXTRA_SERVER
        location /_docker$i/ {
            internal;
            proxy_pass http://unix:$s:/v1.41/;
            proxy_http_version 1.0;
            proxy_buffering off;
            proxy_read_timeout 1d;
            proxy_send_timeout 1h;
        }"
    done
fi

# client + Docker connection per stream, plus one background request and
# its Docker connection per kill
NGX_WORKER_CONNECTIONS=$(( STREAMS * 4 + 256 ))
nginx_start
W=$(worker_pid)

ids=()
cids=()
log "acquiring $LEASES lease(s)"
for i in $(seq 1 "$LEASES"); do
    id=$(acquire "idle-$i")
    ids+=("$id")
    for s in "${SOCKS[@]}"; do
        c=$(curl -sS --max-time 60 --unix-socket "$s" "http://docker/v1.41/containers/$CONTAINER_PREFIX$id/json" \
            | perl -MJSON::PP -e 'print eval { decode_json(join "", <STDIN>)->{Id} } // ""')
        [ -n "$c" ] && break
    done
    [ -n "$c" ] || die "lease $id: no container on any dockerd"
    cids+=("$c")
done
printf '%s\n' "${cids[@]}" > "$RESULTS/containers.txt"

# number of `sleep 60` processes in the lease containers
count_sleeps() {
    perl -e '
        my %c = map { chomp; $_ => 1 } do { open my $f, "<", $ARGV[0] or die; <$f> };
        my $n = 0;
        for my $p (glob "/proc/[0-9]*") {
            open my $f, "<", "$p/cmdline" or next; my $c = <$f> // "";
            next unless $c eq "sleep\0$ARGV[1]\0";
            open my $g, "<", "$p/cgroup" or next; local $/; my $cg = <$g> // "";
            $n++ if grep { $c{$_} } $cg =~ /([0-9a-f]{64})/g;
        }
        print "$n\n";' "$RESULTS/containers.txt" "$SLEEP"
}
rss_med() {
    local i
    for i in 1 2 3; do proc_kb "$W" VmRSS; sleep 0.3; done | sort -n | sed -n 2p
}
nfds() { ls "/proc/$W/fd" | wc -l; }

# warm the worker once: one short streaming exec
curl -sS --max-time 30 -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
     --data-binary "{\"providerLeaseId\":\"${ids[0]}\",\"command\":\"echo\",\"args\":[\"hi\"],\"streamOutput\":true}" \
     "http://127.0.0.1:$PORT$API/exec" | grep -q '^event: complete' || die "warm-up exec failed"
sleep 1

rss0=$(rss_med)
fds0=$(nfds)
[ "$(count_sleeps)" = 0 ] || die "sleep $SLEEP processes already running?"

el() { perl -e 'printf "%.2f", $ARGV[1] - $ARGV[0]' "$1" "$2"; }
# dockerd of the services: its memory and fds next to the worker's
dockerd_state() {
    local s p n=0 out=
    for s in "${SOCKS[@]}"; do
        n=$((n + 1))
        p=$(cat "$(dirname "$s")/docker.pid" 2>/dev/null || true)
        if [ -n "$p" ] && [ -d "/proc/$p" ]; then
            out="$out${out:+; }dockerd${DOCKERDS:+ $n} VmRSS $(proc_kb "$p" VmRSS) kB, $(ls "/proc/$p/fd" | wc -l) fds (limit $(awk '/^Max open files/ {print $4}' "/proc/$p/limits"))"
        else
            out="$out${out:+; }dockerd $n: ?"
        fi
    done
    echo "$out"
}
ready_wait=$(( 60 + STREAMS / 10 ))
running_wait=$(( 30 + STREAMS / 20 ))
# the sleeps would end on their own SLEEP s after start
kill_wait=40
[ "$SLEEP" -gt 60 ] && kill_wait=$(( 40 + STREAMS / 100 ))
say ""
say "$STREAMS streaming execs of 'sleep $SLEEP' over $LEASES lease container(s) ($(( STREAMS / LEASES )) per container); worker_connections $NGX_WORKER_CONNECTIONS, worker_rlimit_nofile $(awk '/^Max open files/ {print $4}' "/proc/$W/limits"); $ROUNDS rounds$([ "$BATCH" -gt 0 ] && echo "; opened $BATCH at a time")"
say "worker idle: VmRSS $rss0 kB, $fds0 fds; $(dockerd_state)"
per_stream=()
for round in $(seq 1 "$ROUNDS"); do
    log "round $round: opening $STREAMS streams"
    out=$RESULTS/client-r$round.out
    t_open=$(date +%s.%N)
    PSB_IDLE_BATCH=$BATCH "$CLIENT" idle 127.0.0.1 "$PORT" "$TOKEN" "$API/exec" "$STREAMS" "$SLEEP" "${ids[@]}" \
        > "$out" 2> "$RESULTS/client-r$round.err" &
    CLIENT_PID=$!
    BENCH_CHILD_PIDS=$CLIENT_PID
    for i in $(seq 1 $(( ready_wait * 10 ))); do
        grep -q '^READY' "$out" && break
        kill -0 "$CLIENT_PID" 2>/dev/null || die "client exited: $(cat "$RESULTS/client-r$round.err")"
        sleep 0.1
    done
    t_ready=$(date +%s.%N)
    ready=$(sed -n 's/^READY \([0-9]*\).*/\1/p' "$out")
    [ "$ready" = "$STREAMS" ] || say "PROBLEM: only $ready of $STREAMS streams got a response header"
    for i in $(seq 1 $(( running_wait * 10 ))); do
        running=$(count_sleeps)
        [ "$running" -ge "$STREAMS" ] && break
        sleep 0.1
    done
    t_running=$(date +%s.%N)
    [ "$running" = "$STREAMS" ] || say "PROBLEM: $running of $STREAMS commands running"
    sleep "$HOLD"
    rss1=$(rss_med)
    fds1=$(nfds)
    hwm1=$(proc_kb "$W" VmHWM)
    running1=$(count_sleeps)
    say "round $round: with the streams: $(dockerd_state); load avg $(cut -d' ' -f1-3 /proc/loadavg)"

    log "round $round: closing the clients"
    kill -TERM "$CLIENT_PID"
    t_close=$(date +%s.%N)
    wait "$CLIENT_PID" 2>/dev/null || true
    BENCH_CHILD_PIDS=
    left=$running1
    t_zero=
    deadline=$(( $(date +%s) + kill_wait ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        left=$(count_sleeps)
        if [ "$left" = 0 ]; then t_zero=$(date +%s.%N); break; fi
        sleep 0.1
    done
    sleep 1
    rss2=$(rss_med)
    fds2=$(nfds)

    ps1=$(perl -e 'printf "%.1f", ($ARGV[1] - $ARGV[0]) / $ARGV[2]' "$rss0" "$rss1" "$STREAMS")
    per_stream+=("$ps1")
    say "round $round: headers after $(el "$t_open" "$t_ready") s, $running commands running after $(el "$t_open" "$t_running") s;" \
        "VmRSS with streams $rss1 kB (VmHWM $hwm1) = $ps1 kB/stream over idle; $fds1 fds ($(perl -e 'printf "%.2f", ($ARGV[1] - $ARGV[0]) / $ARGV[2]' "$fds0" "$fds1" "$STREAMS")/stream)"
    say "round $round: client: $(tr '\n' ' ' < "$out")"
    grep -q 'non200=0 early_eof=0 error_events=0 ' "$out" \
        || say "PROBLEM: streams failed or ended early (see $out)"
    if [ -n "$t_zero" ]; then
        say "round $round: clients closed -> all $running1 commands killed within $(el "$t_close" "$t_zero") s; then VmRSS $rss2 kB, $fds2 fds"
    else
        say "PROBLEM: round $round: $left of $running1 commands still running $kill_wait s after the clients closed"
    fi
    [ "$fds2" -le $(( fds0 + 2 )) ] || say "PROBLEM: the worker still holds $fds2 fds (idle: $fds0) after the clients left"
    kill -0 "$W" 2>/dev/null || { say "PROBLEM: the worker (pid $W) is gone"; break; }
done
say "worker memory per idle stream: ${per_stream[*]} kB (rounds); VmRSS growth over the whole run $(( rss2 - rss0 )) kB"

log "releasing the leases"
for id in "${ids[@]}"; do
    out=$(bridge POST "$API/leases/release" "{\"providerLeaseId\":\"$id\"}" 2>&1) || true
    [ "$out" = '{"ok":true}' ] || say "PROBLEM: release $id answered: $out"
done
remaining=$(bench_containers | wc -l)
[ "$remaining" = 0 ] || say "PROBLEM: $remaining container(s) remain after release"
nginx_log_summary
