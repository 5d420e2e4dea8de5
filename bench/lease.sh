#!/usr/bin/env bash
# bench/lease.sh -- lease acquire + release through the bridge versus the
# same Docker work done directly with curl on the Docker socket.
#
# Bridge cycle (2 curl calls; the time is the sum of curl's %{time_total}):
#   POST /leases/acquire {"environmentId":"bench","runId":"lease-<i>"}
#   POST /leases/release {"providerLeaseId":<id>}
#   (acquire = Redis "begin" script, container create + start, exec mkdir,
#   exec sentinel write, Redis commit; release = Redis, container DELETE,
#   Redis forget)
#
# Direct cycle (9 curl --unix-socket calls; the sum of their %{time_total},
# so process start-up of the 9 curls is not counted -- their wall time is
# reported separately):
#   POST /containers/create?name=...   the module's own body
#   POST /containers/<id>/start
#   exec `mkdir -p /workspace/paperclip`: POST /containers/<id>/exec,
#        POST /exec/<e>/start (raw stream, read to the end),
#        GET /exec/<e>/json (exit code)
#   exec the sentinel write (sh -c "mkdir -p ... && printf ... > ..."),
#        same three calls
#   DELETE /containers/<id>?force=true&v=true
# The request bodies are not written by hand: one acquire + release goes
# first through a copy of the bridge whose Docker calls pass a logging
# server (lib.sh), and the direct path replays exactly those bodies (the
# create body with our own label instead of the lease labels, each exec
# with a fresh PSB_EXEC marker); so only the bridge's own work differs.
# The Docker calls of that cycle are listed in the results
# (bridge-docker-calls.txt).
#
# Cycles alternate (bridge, direct, bridge, ...) after WARMUP of each.
# Knobs: N (default 30), WARMUP (default 2).
. "$(dirname "$0")/lib.sh"

N=${N:-30}
WARMUP=${WARMUP:-2}

bench_init 170
nginx_start

# Capture what the module sends: one acquire + release through the /cap
# copy of the bridge, whose Docker calls pass through a logging server.
out=$(bridge POST "/cap$API/leases/acquire" '{"environmentId":"bench","runId":"capture"}')
capid=$(perl -MJSON::PP -e 'print decode_json($ARGV[0])->{providerLeaseId}' "$out") || die "capture acquire: $out"
out=$(bridge POST "/cap$API/leases/release" "{\"providerLeaseId\":\"$capid\"}")
[ "$out" = '{"ok":true}' ] || die "capture release: $out"
perl -MJSON::PP -ne 'my $l = decode_json($_); (my $u = $l->{uri}) =~ s/[0-9a-f]{64}/<id>/g;
    print "$u", ($l->{args} ne "" ? "?$l->{args}" : ""), "\n"' "$NGX_PFX/logs/docker.log" > "$RESULTS/bridge-docker-calls.txt"
NCALLS=$(wc -l < "$RESULTS/bridge-docker-calls.txt")
CREATE_BODY=$(docker_bodies '/containers/create$' | tail -n 1)
mapfile -t EXEC_BODIES < <(docker_bodies '/containers/[^/]+/exec$')
DELETE_ARGS=$(perl -MJSON::PP -ne 'my $l = decode_json($_); print "$l->{args}\n" if $l->{uri} =~ m{/containers/[^/]+$}' "$NGX_PFX/logs/docker.log" | tail -n 1)
[ -n "$CREATE_BODY" ] && [ "${#EXEC_BODIES[@]}" = 2 ] || die "unexpected capture: $(cat "$RESULTS/bridge-docker-calls.txt")"
printf '%s\n' "$CREATE_BODY" "${EXEC_BODIES[@]}" > "$RESULTS/bridge-docker-bodies.json"
# the direct containers carry our own label only, so the module's reaper
# never mistakes them for lease containers
CREATE_BODY=$(perl -MJSON::PP -e 'my $j = decode_json($ARGV[0]); $j->{Labels} = {"psb.bench" => "1"};
                                  print JSON::PP->new->canonical->encode($j)' "$CREATE_BODY")

# JSON bodies of one direct cycle: line 1 container create, 2 exec mkdir,
# 3 exec sentinel (fresh PSB_EXEC markers)
direct_bodies() {
    printf '%s\n' "$CREATE_BODY"
    fresh_marker "${EXEC_BODIES[0]}"; echo
    fresh_marker "${EXEC_BODIES[1]}"; echo
}

# dcurl OUTVAR-FILE METHOD PATH [BODY]: one timed call; appends
# "<http_code> <time_total>" to $TIMES and leaves the body in $DBODY
DBODY=$RESULTS/direct-body.tmp
dcurl() {
    local m=$1 p=$2
    shift 2
    curl -sS --max-time 60 --unix-socket "$TEST_NGINX_DOCKER_SOCKET" -X "$m" \
         ${1:+-H 'Content-Type: application/json' --data-binary "$1"} \
         -o "$DBODY" -w '%{http_code} %{time_total}\n' "http://docker/v1.41$p" >> "$TIMES"
}
json_id() { perl -MJSON::PP -e 'local $/; print decode_json(<STDIN>)->{Id}' < "$DBODY"; }

direct_exec() {     # direct_exec CONTAINER BODY -> exit code on stdout
    local e
    dcurl POST "/containers/$1/exec" "$2"
    e=$(json_id)
    dcurl POST "/exec/$e/start" '{"Detach":false,"Tty":false}'
    dcurl GET "/exec/$e/json"
    perl -MJSON::PP -e 'local $/; my $j = decode_json(<STDIN>); print $j->{Running} ? "running" : $j->{ExitCode}' < "$DBODY"
}

# one direct cycle; prints "<sum of time_total s> <wall s>" + per step
direct_cycle() {    # direct_cycle NAME
    local name=$1 bodies cid code t0 t1
    mapfile -t bodies < <(direct_bodies)
    TIMES=$RESULTS/direct-times.tmp
    : > "$TIMES"
    t0=$(date +%s.%N)
    dcurl POST "/containers/create?name=$name" "${bodies[0]}"
    cid=$(json_id)
    dcurl POST "/containers/$cid/start"
    code=$(direct_exec "$cid" "${bodies[1]}")
    [ "$code" = 0 ] || die "direct mkdir exited $code"
    code=$(direct_exec "$cid" "${bodies[2]}")
    [ "$code" = 0 ] || die "direct sentinel write exited $code"
    dcurl DELETE "/containers/$cid?$DELETE_ARGS"
    t1=$(date +%s.%N)
    # expected codes: 201 204 | 201 200 200 | 201 200 200 | 204
    local codes
    codes=$(cut -d' ' -f1 "$TIMES" | tr '\n' ' ')
    [ "$codes" = "201 204 201 200 200 201 200 200 204 " ] || die "direct cycle codes: $codes"
    perl -e '
        my @t = map { (split)[1] } <STDIN>;
        my $s = 0; $s += $_ for @t;
        printf "%.6f %.6f %.6f %.6f %.6f %.6f %.6f\n", $s, $ARGV[1] - $ARGV[0],
            $t[0], $t[1], $t[2] + $t[3] + $t[4], $t[5] + $t[6] + $t[7], $t[8];
    ' "$t0" "$t1" < "$TIMES"
}

# one bridge cycle; prints "<sum s> <wall s> <acquire s> <release s>"
bridge_cycle() {    # bridge_cycle RUNID
    local out id t0 t1 a r
    t0=$(date +%s.%N)
    out=$(curl -sS --max-time 60 -X POST -H "Authorization: Bearer $TOKEN" \
               -H 'Content-Type: application/json' \
               --data-binary "{\"environmentId\":\"bench\",\"runId\":\"$1\"}" \
               -w '\n%{http_code} %{time_total}' "http://127.0.0.1:$PORT$API/leases/acquire")
    a=${out##*$'\n'}
    out=${out%$'\n'*}
    [ "${a%% *}" = 200 ] || die "acquire answered ${a%% *}: $out"
    id=$(perl -MJSON::PP -e 'print decode_json($ARGV[0])->{providerLeaseId}' "$out")
    out=$(curl -sS --max-time 60 -X POST -H "Authorization: Bearer $TOKEN" \
               -H 'Content-Type: application/json' \
               --data-binary "{\"providerLeaseId\":\"$id\"}" \
               -w '\n%{http_code} %{time_total}' "http://127.0.0.1:$PORT$API/leases/release")
    r=${out##*$'\n'}
    out=${out%$'\n'*}
    t1=$(date +%s.%N)
    [ "${r%% *}" = 200 ] && [ "$out" = '{"ok":true}' ] || die "release answered $r: $out"
    echo "$id" >> "$RESULTS/bridge-leases.txt"
    perl -e 'printf "%.6f %.6f %.6f %.6f\n", $ARGV[2] + $ARGV[3], $ARGV[1] - $ARGV[0], $ARGV[2], $ARGV[3]' \
        "$t0" "$t1" "${a#* }" "${r#* }"
}

: > "$RESULTS/bridge.txt"
: > "$RESULTS/direct.txt"
: > "$RESULTS/bridge-leases.txt"
log "warm-up: $WARMUP cycles each"
for i in $(seq 1 "$WARMUP"); do
    bridge_cycle "warm-$i" >/dev/null
    direct_cycle "${CONTAINER_PREFIX}direct-warm-$i" >/dev/null
done
log "$N alternating cycles each"
for i in $(seq 1 "$N"); do
    bridge_cycle "lease-$i" >> "$RESULTS/bridge.txt"
    direct_cycle "${CONTAINER_PREFIX}direct-$i" >> "$RESULTS/direct.txt"
done
rm -f "$DBODY" "$RESULTS/direct-times.tmp"

# the bridge must have removed every container and lease record
left=$(bench_containers | wc -l)
keys=$(redis-cli -p "$TEST_NGINX_REDIS_PORT" --scan --pattern "${KEY_PREFIX}lease:*" | wc -l)
[ "$left" = 0 ] || say "PROBLEM: $left container(s) left after the cycles"
[ "$keys" = 0 ] || say "PROBLEM: $keys lease record(s) left in Redis after release"

col() { cut -d' ' -f"$1" "$2" | perl -ne 'printf "%.3f\n", $_ * 1000' | stats; }
read -r bm bp90 bmean _ < <(col 1 "$RESULTS/bridge.txt")
read -r dm dp90 dmean _ < <(col 1 "$RESULTS/direct.txt")
read -r bwm _ < <(col 2 "$RESULTS/bridge.txt")
read -r dwm _ < <(col 2 "$RESULTS/direct.txt")

say ""
say "N=$N cycles each, alternating, after $WARMUP warm-up cycles each; times in ms"
say "bridge cycle = $NCALLS Docker calls ($(cut -d? -f1 "$RESULTS/bridge-docker-calls.txt" | sed -E 's#/v1.41##; s#/containers/[^/]+/#/containers/<c>/#; s#/containers/psbbench-[^/]+$#/containers/<c>#' | tr '\n' ' ')); direct cycle = 9"
say "$(printf '%-44s %9s %9s %9s' '' median p90 mean)"
say "$(printf '%-44s %9s %9s %9s' 'bridge acquire+release (curl time_total)' "$bm" "$bp90" "$bmean")"
say "$(printf '%-44s %9s %9s %9s' 'direct Docker, 9 calls (sum of time_total)' "$dm" "$dp90" "$dmean")"
say "ratio bridge/direct: median $(ratio "$bm" "$dm"), p90 $(ratio "$bp90" "$dp90"); median difference $(perl -e 'printf "%.1f", $ARGV[0] - $ARGV[1]' "$bm" "$dm") ms"
say "wall clock per cycle incl. curl start-up (median): bridge $bwm ms (2 curls), direct $dwm ms (9 curls + 2 perl)"
say "breakdown (median ms):"
say "    bridge: acquire $(col 3 "$RESULTS/bridge.txt" | cut -d' ' -f1), release $(col 4 "$RESULTS/bridge.txt" | cut -d' ' -f1)"
say "    direct: create $(col 3 "$RESULTS/direct.txt" | cut -d' ' -f1), start $(col 4 "$RESULTS/direct.txt" | cut -d' ' -f1)," \
    "exec mkdir $(col 5 "$RESULTS/direct.txt" | cut -d' ' -f1), exec sentinel $(col 6 "$RESULTS/direct.txt" | cut -d' ' -f1)," \
    "delete $(col 7 "$RESULTS/direct.txt" | cut -d' ' -f1)"
nginx_log_summary
