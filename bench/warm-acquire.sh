#!/usr/bin/env bash
# bench/warm-acquire.sh -- acquire with a warm pool versus a cold acquire,
# in the same nginx and the same run.
#
# Two bridge locations on the same Docker host: $API (no pool: every
# acquire creates and starts its container) and /warm$API with
# `sandbox_warm_pool 4` (README "Warm pool"). After the pool is full,
# N rounds, 1 s apart (the pool refills in between): a warm acquire, its
# release, a cold acquire, its release. Only the acquires are timed (curl
# %{time_total}); each warm lease's container is checked for the pool
# label, so the summary says how many acquires the pool served. Each round
# ends with the floor of a warm acquire: an upload of a workspace archive
# of the same shape straight into a running container (Docker unpacks
# archives in a helper process of its own).
# Knobs: N (default 50), POOL (default 4), GAP (seconds, default 1).
. "$(dirname "$0")/lib.sh"

N=${N:-50}
POOL=${POOL:-4}
GAP=${GAP:-1}

bench_init 170
NGX_EXTRA_SERVER="
        location /warm$API {
            sandbox_auth bearer;
            sandbox_auth_token_file @PFX@/conf/tokens;
            sandbox_warm_pool $POOL;
            sandbox_bridge;
        }
"
nginx_start

ready() {
    bridge GET "/warm$API/health" \
        | perl -MJSON::PP -e 'my $j = eval { decode_json(join "", <STDIN>) } || {};
                              print $j->{warmPool}[0]{ready} // -1'
}
for i in $(seq 1 300); do
    [ "$(ready)" = "$POOL" ] && break
    sleep 0.2
done
[ "$(ready)" = "$POOL" ] || die "the pool did not fill to $POOL: $(bridge GET "/warm$API/health")"
log "pool of $POOL ready"

# timed_acquire PATHPREFIX RUNID -> "<ms> <leaseId>"
timed_acquire() {
    local out a id
    out=$(curl -sS --max-time 60 -X POST -H "Authorization: Bearer $TOKEN" \
               -H 'Content-Type: application/json' \
               --data-binary "{\"environmentId\":\"bench\",\"runId\":\"$2\"}" \
               -w '\n%{http_code} %{time_total}' "http://127.0.0.1:$PORT$1$API/leases/acquire")
    a=${out##*$'\n'}
    out=${out%$'\n'*}
    [ "${a%% *}" = 200 ] || die "acquire ($1) answered ${a%% *}: $out"
    id=$(perl -MJSON::PP -e 'print decode_json($ARGV[0])->{providerLeaseId}' "$out")
    perl -e 'printf "%.3f %s\n", $ARGV[0] * 1000, $ARGV[1]' "${a#* }" "$id"
}

# the floor of a warm acquire: the workspace upload alone, an archive of
# the same shape PUT straight into a running container, once per round
mkdir -p "$RESULTS/tar/workspace/paperclip"
head -c 300 /dev/zero | tr '\0' x > "$RESULTS/tar/workspace/paperclip/.paperclip-lease.json"
tar -C "$RESULTS/tar" --owner=0 --group=0 -cf "$RESULTS/upload.tar" workspace
floor=psbbench-floor-$$
dk POST "/containers/create?name=$floor" \
   "{\"Image\":\"$TEST_NGINX_SANDBOX_IMAGE\",\"Cmd\":[\"sleep\",\"3600\"],\"Labels\":{\"psb.bench\":\"1\"},\"HostConfig\":{\"NetworkMode\":\"none\"}}" >/dev/null
dk POST "/containers/$floor/start" >/dev/null
: > "$RESULTS/upload.txt"

: > "$RESULTS/warm.txt"
: > "$RESULTS/cold.txt"
claimed=0
log "$N rounds, $GAP s apart: warm acquire, release, cold acquire, release, direct upload"
for i in $(seq 1 "$N"); do
    read -r ms id < <(timed_acquire /warm "warm-$i")
    echo "$ms" >> "$RESULTS/warm.txt"
    label=$(dk GET "/containers/${CONTAINER_PREFIX}$id/json" \
            | perl -MJSON::PP -e 'print decode_json(join "", <STDIN>)->{Config}{Labels}{"paperclip.bridge.pool"} // ""')
    [ -n "$label" ] && claimed=$((claimed + 1))
    out=$(bridge POST "/warm$API/leases/release" "{\"providerLeaseId\":\"$id\"}")
    [ "$out" = '{"ok":true}' ] || die "release $id: $out"
    read -r ms id < <(timed_acquire "" "cold-$i")
    echo "$ms" >> "$RESULTS/cold.txt"
    release "$id"
    curl -sS --max-time 60 --unix-socket "$TEST_NGINX_DOCKER_SOCKET" -X PUT \
         -H 'Content-Type: application/x-tar' --data-binary @"$RESULTS/upload.tar" \
         -o /dev/null -w '%{time_total}\n' \
         "http://docker/v1.41/containers/$floor/archive?path=/" \
        | perl -ne 'printf "%.3f\n", $_ * 1000' >> "$RESULTS/upload.txt"
    sleep "$GAP"
done
dk DELETE "/containers/$floor?force=true&v=true" >/dev/null

read -r um up90 umean _ < <(stats < "$RESULTS/upload.txt")

read -r wm wp90 wmean _ < <(stats < "$RESULTS/warm.txt")
read -r cm cp90 cmean _ < <(stats < "$RESULTS/cold.txt")

say ""
say "N=$N acquires each, $GAP s apart, alternating; pool of $POOL; times in ms (curl time_total)"
say "$(printf '%-36s %9s %9s %9s' '' median p90 mean)"
say "$(printf '%-36s %9s %9s %9s' 'warm acquire (sandbox_warm_pool)' "$wm" "$wp90" "$wmean")"
say "$(printf '%-36s %9s %9s %9s' 'cold acquire (create + start)' "$cm" "$cp90" "$cmean")"
say "$(printf '%-36s %9s %9s %9s' 'direct upload (the floor)' "$um" "$up90" "$umean")"
say "ratio warm/cold: median $(ratio "$wm" "$cm"), p90 $(ratio "$wp90" "$cp90")"
say "ratio warm/direct upload: median $(ratio "$wm" "$um")"
say "warm acquires served by the pool: $claimed of $N"
nginx_log_summary

# the pool outlives nginx by design: its unclaimed containers go now
nginx_stop
for c in $(curl -sS --max-time 30 --unix-socket "$TEST_NGINX_DOCKER_SOCKET" -G \
                --data-urlencode all=1 \
                --data-urlencode "filters={\"label\":[\"paperclip.bridge.prefix=$KEY_PREFIX\",\"paperclip.bridge.pool\"],\"name\":[\"^${CONTAINER_PREFIX}pool_\"]}" \
                http://docker/v1.41/containers/json \
           | perl -MJSON::PP -e 'print "$_->{Id}\n" for @{decode_json(join "", <STDIN>)}'); do
    dk DELETE "/containers/$c?force=true&v=true" >/dev/null
done
