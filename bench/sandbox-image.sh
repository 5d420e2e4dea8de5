#!/usr/bin/env bash
# bench/sandbox-image.sh -- lease acquire with the agent sandbox image
# (util/sandbox-image/Dockerfile, psb-agent:local) versus the busybox
# image (psb-sandbox:local), through the same bridge in the same run.
#
# Cycle: POST /leases/acquire then POST /leases/release (container create +
# start, the two setup execs, then container DELETE); the acquire time is
# curl's %{time_total}.  Cycles alternate busybox, agent, busybox, ...
# after WARMUP of each.  Also reports both images' sizes (Docker's Size).
# Knobs: N (default 20), WARMUP (default 2), AGENT_NPM_PACKAGES (the image
# is built with them; build/image caches it).
export PSB_SANDBOX=agent PSB_INSTANCE=${PSB_INSTANCE:-bench-agent}
. "$(dirname "$0")/lib.sh"

N=${N:-20}
WARMUP=${WARMUP:-2}

NGX_EXTRA_SERVER="
        location /agent$API {
            sandbox_auth bearer;
            sandbox_auth_token_file @PFX@/conf/tokens;
            sandbox_image psb-agent:local;
            sandbox_bridge;
        }
        location /busybox$API {
            sandbox_auth bearer;
            sandbox_auth_token_file @PFX@/conf/tokens;
            sandbox_image psb-sandbox:local;
            sandbox_bridge;
        }"
bench_init 300
nginx_start

# one cycle; prints the acquire time in seconds
cycle() {           # cycle IMAGE RUNID
    local out a id
    out=$(curl -sS --max-time 120 -X POST -H "Authorization: Bearer $TOKEN" \
               -H 'Content-Type: application/json' \
               --data-binary "{\"environmentId\":\"bench-$1\",\"runId\":\"$2\"}" \
               -w '\n%{http_code} %{time_total}' "http://127.0.0.1:$PORT/$1$API/leases/acquire")
    a=${out##*$'\n'}
    out=${out%$'\n'*}
    [ "${a%% *}" = 200 ] || die "$1 acquire answered ${a%% *}: $out"
    id=$(perl -MJSON::PP -e 'print decode_json($ARGV[0])->{providerLeaseId}' "$out")
    out=$(bridge POST "/$1$API/leases/release" "{\"providerLeaseId\":\"$id\"}")
    [ "$out" = '{"ok":true}' ] || die "$1 release: $out"
    echo "${a#* }"
}

for i in $(seq 1 "$WARMUP"); do
    cycle busybox "warm-$i" >/dev/null
    cycle agent "warm-$i" >/dev/null
done
: > "$RESULTS/busybox.txt"
: > "$RESULTS/agent.txt"
for i in $(seq 1 "$N"); do
    cycle busybox "run-$i" >> "$RESULTS/busybox.txt"
    cycle agent "run-$i" >> "$RESULTS/agent.txt"
done

read -r bmed bp90 _ <<<"$(stats < "$RESULTS/busybox.txt")"
read -r amed ap90 _ <<<"$(stats < "$RESULTS/agent.txt")"
size() { docker image inspect -f '{{.Size}}' "$1" | awk '{ printf "%.1f MB", $1 / 1e6 }'; }
say "image sizes: psb-sandbox:local $(size psb-sandbox:local), psb-agent:local $(size psb-agent:local)"
say "acquire busybox: median ${bmed}s p90 ${bp90}s (N=$N)"
say "acquire agent:   median ${amed}s p90 ${ap90}s (N=$N)"
say "agent/busybox acquire ratio (median): $(ratio "$amed" "$bmed")"
