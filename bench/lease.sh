#!/usr/bin/env bash
# bench/lease.sh -- lease acquire + release through the bridge versus the
# minimal direct sequence on the Docker socket, and versus the same Docker
# calls the bridge makes, both done directly with curl.
#
# Bridge cycle (2 curl calls; the time is the sum of curl's %{time_total}):
#   POST /leases/acquire {"environmentId":"bench","runId":"lease-<i>"}
#   POST /leases/release {"providerLeaseId":<id>}
#   (acquire = Redis "begin" script, container create, the workspace and
#   sentinel as a tar upload, start, Redis commit; release = Redis,
#   container DELETE, Redis forget)
#
# Minimal direct cycle (3 curl --unix-socket calls; the sum of their
# %{time_total}, so process start-up of the curls is not counted -- their
# wall time is reported separately):
#   POST /containers/create?name=...   the module's own body
#   POST /containers/<id>/start
#   DELETE /containers/<id>?force=true&v=true
#
# Same-calls direct cycle: exactly the Docker calls of the bridge's cycle,
# in order (listed in the results, bridge-docker-calls.txt): create, the
# archive upload (PUT /containers/<id>/archive with the captured tar), the
# start, each exec (POST /containers/<id>/exec, POST /exec/<e>/start, raw
# stream read to the end, GET /exec/<e>/json), the DELETE. A module that
# prepared the workspace with execs (before the tar upload) gives 9 calls.
#
# The request bodies are not written by hand: one acquire + release goes
# first through a copy of the bridge whose Docker calls pass a logging
# server (lib.sh), and the direct paths replay exactly those bodies (the
# create body with our own label instead of the lease labels, each exec
# with a fresh PSB_EXEC marker); so only the bridge's own work differs.
#
# Cycles alternate (bridge, minimal, same calls, bridge, ...) after WARMUP
# of each. Knobs: N (default 30), WARMUP (default 2).
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
[ -n "$CREATE_BODY" ] && [ -n "$DELETE_ARGS" ] || die "unexpected capture: $(cat "$RESULTS/bridge-docker-calls.txt")"
printf '%s\n' "$CREATE_BODY" "${EXEC_BODIES[@]}" > "$RESULTS/bridge-docker-bodies.json"
# the bridge's calls as steps of the same-calls cycle: "create", "start",
# "delete", "archive <args> <file with the captured tar>", "exec <n>"
# (the exec's own start and inspect are part of the step)
STEPS=$RESULTS/bridge-docker-steps.txt
perl -MJSON::PP -ne '
    BEGIN { ($dir) = @ARGV; shift @ARGV; $n = 0; $x = 0 }
    my $l = decode_json($_);
    my $u = $l->{uri};
    if ($u =~ m{/containers/create$}) { print "create\n" }
    elsif ($u =~ m{/containers/[^/]+/start$}) { print "start\n" }
    elsif ($u =~ m{/containers/[^/]+/exec$}) { print "exec ", $x++, "\n" }
    elsif ($u =~ m{/containers/[^/]+/archive$}) {
        my $f = "$dir/bridge-archive-" . $n++ . ".tar";
        open my $o, ">:raw", $f or die "$f: $!";
        print $o $l->{body};
        close $o;
        print "archive $l->{args} $f\n";
    }
    elsif ($u =~ m{/containers/[^/]+$} && $l->{method} eq "DELETE") { print "delete\n" }
    elsif ($u =~ m{^/v1\.41/exec/}) { }
    else { die "unexpected Docker call in the capture: $l->{method} $u\n" }
' "$RESULTS" "$NGX_PFX/logs/docker.log" > "$STEPS"
NSTEPS=$(wc -l < "$STEPS")
[ "$(grep -c '^exec ' "$STEPS")" = "${#EXEC_BODIES[@]}" ] || die "exec bodies do not match the calls"
# the direct containers carry our own label only, so the module's reaper
# never mistakes them for lease containers
CREATE_BODY=$(perl -MJSON::PP -e 'my $j = decode_json($ARGV[0]); $j->{Labels} = {"psb.bench" => "1"};
                                  print JSON::PP->new->canonical->encode($j)' "$CREATE_BODY")

# dcurl KIND METHOD PATH [BODY]: one timed call; appends
# "<kind> <http_code> <time_total>" to $TIMES and leaves the body in $DBODY
DBODY=$RESULTS/direct-body.tmp
dcurl() {
    local k=$1 m=$2 p=$3
    shift 3
    curl -sS --max-time 60 --unix-socket "$TEST_NGINX_DOCKER_SOCKET" -X "$m" \
         ${1:+-H 'Content-Type: application/json' --data-binary "$1"} \
         -o "$DBODY" -w "$k %{http_code} %{time_total}\n" "http://docker/v1.41$p" >> "$TIMES"
}
# dcurl_tar PATH FILE: the same, a tar upload
dcurl_tar() {
    curl -sS --max-time 60 --unix-socket "$TEST_NGINX_DOCKER_SOCKET" -X PUT \
         -H 'Content-Type: application/x-tar' --data-binary "@$2" \
         -o "$DBODY" -w "archive %{http_code} %{time_total}\n" "http://docker/v1.41$1" >> "$TIMES"
}
json_id() { perl -MJSON::PP -e 'local $/; print decode_json(<STDIN>)->{Id}' < "$DBODY"; }

direct_exec() {     # direct_exec CONTAINER BODY -> exit code on stdout
    local e
    dcurl exec POST "/containers/$1/exec" "$2"
    e=$(json_id)
    dcurl exec POST "/exec/$e/start" '{"Detach":false,"Tty":false}'
    dcurl exec GET "/exec/$e/json"
    perl -MJSON::PP -e 'local $/; my $j = decode_json(<STDIN>); print $j->{Running} ? "running" : $j->{ExitCode}' < "$DBODY"
}

# the times of one direct cycle: "<sum of time_total s> <wall s> <create>
# <start> <archive> <exec> <delete>" (per kind, the sum of its calls); the
# expected HTTP status of each kind is checked
cycle_times() {     # cycle_times T0 T1
    perl -e '
        my %ok = (create => 201, start => 204, archive => 200, delete => 204);
        my (%t, $s);
        while (<STDIN>) {
            my ($k, $c, $v) = split;
            die "direct $k answered $c\n"
                if exists $ok{$k} ? $c != $ok{$k} : $c !~ /^20[01]$/;
            $t{$k} += $v;
            $s += $v;
        }
        printf "%.6f %.6f %s\n", $s, $ARGV[1] - $ARGV[0],
            join " ", map { sprintf "%.6f", $t{$_} // 0 }
                qw(create start archive exec delete);
    ' "$1" "$2" < "$TIMES"
}

# one minimal direct cycle: create, start, remove
direct_min_cycle() {    # direct_min_cycle NAME
    local cid t0 t1
    TIMES=$RESULTS/direct-times.tmp
    : > "$TIMES"
    t0=$(date +%s.%N)
    dcurl create POST "/containers/create?name=$1" "$CREATE_BODY"
    cid=$(json_id)
    dcurl start POST "/containers/$cid/start"
    dcurl delete DELETE "/containers/$cid?$DELETE_ARGS"
    t1=$(date +%s.%N)
    cycle_times "$t0" "$t1" || die "minimal direct cycle failed"
}

# one cycle of the bridge's own Docker calls
direct_same_cycle() {   # direct_same_cycle NAME
    local cid code t0 t1 kind a1 a2
    TIMES=$RESULTS/direct-times.tmp
    : > "$TIMES"
    t0=$(date +%s.%N)
    while read -r kind a1 a2; do
        case $kind in
            create)  dcurl create POST "/containers/create?name=$1" "$CREATE_BODY"
                     cid=$(json_id) ;;
            start)   dcurl start POST "/containers/$cid/start" ;;
            archive) dcurl_tar "/containers/$cid/archive?$a1" "$a2" ;;
            exec)    code=$(direct_exec "$cid" "$(fresh_marker "${EXEC_BODIES[$a1]}")")
                     [ "$code" = 0 ] || die "direct exec $a1 exited $code" ;;
            delete)  dcurl delete DELETE "/containers/$cid?$DELETE_ARGS" ;;
        esac
    done < "$STEPS"
    t1=$(date +%s.%N)
    cycle_times "$t0" "$t1" || die "same-calls direct cycle failed"
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
: > "$RESULTS/direct-min.txt"
: > "$RESULTS/direct-same.txt"
: > "$RESULTS/bridge-leases.txt"
log "warm-up: $WARMUP cycles each"
for i in $(seq 1 "$WARMUP"); do
    bridge_cycle "warm-$i" >/dev/null
    direct_min_cycle "${CONTAINER_PREFIX}direct-min-warm-$i" >/dev/null
    direct_same_cycle "${CONTAINER_PREFIX}direct-same-warm-$i" >/dev/null
done
log "$N alternating cycles each"
for i in $(seq 1 "$N"); do
    bridge_cycle "lease-$i" >> "$RESULTS/bridge.txt"
    direct_min_cycle "${CONTAINER_PREFIX}direct-min-$i" >> "$RESULTS/direct-min.txt"
    direct_same_cycle "${CONTAINER_PREFIX}direct-same-$i" >> "$RESULTS/direct-same.txt"
done
rm -f "$DBODY" "$RESULTS/direct-times.tmp"

# the bridge must have removed every container and lease record
left=$(bench_containers | wc -l)
keys=$(redis-cli -p "$TEST_NGINX_REDIS_PORT" --scan --pattern "${KEY_PREFIX}lease:*" | wc -l)
[ "$left" = 0 ] || say "PROBLEM: $left container(s) left after the cycles"
[ "$keys" = 0 ] || say "PROBLEM: $keys lease record(s) left in Redis after release"

col() { cut -d' ' -f"$1" "$2" | perl -ne 'printf "%.3f\n", $_ * 1000' | stats; }
med() { col "$1" "$2" | cut -d' ' -f1; }
read -r bm bp90 bmean _ < <(col 1 "$RESULTS/bridge.txt")
read -r mm mp90 mmean _ < <(col 1 "$RESULTS/direct-min.txt")
read -r sm sp90 smean _ < <(col 1 "$RESULTS/direct-same.txt")

say ""
say "N=$N cycles each, alternating, after $WARMUP warm-up cycles each; times in ms"
say "bridge cycle = $NCALLS Docker calls ($(cut -d? -f1 "$RESULTS/bridge-docker-calls.txt" | sed -E 's#/v1.41##; s#/containers/[^/]+/#/containers/<c>/#; s#/exec/[^/]+/#/exec/<e>/#; s#/containers/psbbench-[^/]+$#/containers/<c>#' | tr '\n' ' '))"
say "$(printf '%-46s %9s %9s %9s' '' median p90 mean)"
say "$(printf '%-46s %9s %9s %9s' 'bridge acquire+release (curl time_total)' "$bm" "$bp90" "$bmean")"
say "$(printf '%-46s %9s %9s %9s' 'direct minimal: create+start+remove, 3 calls' "$mm" "$mp90" "$mmean")"
say "$(printf '%-46s %9s %9s %9s' "direct, the bridge's $NCALLS calls" "$sm" "$sp90" "$smean")"
say "ratio bridge/minimal direct: median $(ratio "$bm" "$mm"), p90 $(ratio "$bp90" "$mp90"); median difference $(perl -e 'printf "%.1f", $ARGV[0] - $ARGV[1]' "$bm" "$mm") ms"
say "ratio bridge/same calls:     median $(ratio "$bm" "$sm"), p90 $(ratio "$bp90" "$sp90"); median difference $(perl -e 'printf "%.1f", $ARGV[0] - $ARGV[1]' "$bm" "$sm") ms"
say "wall clock per cycle incl. curl start-up (median): bridge $(med 2 "$RESULTS/bridge.txt") ms (2 curls), minimal $(med 2 "$RESULTS/direct-min.txt") ms, same calls $(med 2 "$RESULTS/direct-same.txt") ms"
say "breakdown (median ms):"
say "    bridge: acquire $(med 3 "$RESULTS/bridge.txt"), release $(med 4 "$RESULTS/bridge.txt")"
say "    minimal: create $(med 3 "$RESULTS/direct-min.txt"), start $(med 4 "$RESULTS/direct-min.txt"), delete $(med 7 "$RESULTS/direct-min.txt")"
say "    same calls: create $(med 3 "$RESULTS/direct-same.txt"), archive $(med 5 "$RESULTS/direct-same.txt"), start $(med 4 "$RESULTS/direct-same.txt")," \
    "execs $(med 6 "$RESULTS/direct-same.txt"), delete $(med 7 "$RESULTS/direct-same.txt")"
nginx_log_summary
