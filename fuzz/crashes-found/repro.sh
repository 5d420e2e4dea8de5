#!/usr/bin/env bash
# Replay the known findings (README.md here): each input passes the
# harness as it runs by default, and fails it with PSB_FUZZ_STRICT=1,
# which turns the checks for the known findings back on.
#
#   fuzz/crashes-found/repro.sh            (after fuzz/build.sh)
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd -P)
ROOT=$(cd "$HERE/../.." && pwd -P)
BIN=${FUZZ_BUILD:-$ROOT/build/fuzz}/bin

# input                            harness        route (PSB_FUZZ_ROUTE)
CASES="
F1-request-acquire-invalid-id      fuzz_request   /leases/acquire
F1-request-release-invalid-id      fuzz_request   /leases/release
F1-request-resume-invalid-id       fuzz_request   /leases/resume
F1-request-probe-bad-sleepafter    fuzz_request   /probe
F2-request-empty-body              fuzz_request   /probe
F2-request-invalid-json            fuzz_request   /probe
F3-auth-keyfile-comment-admin      fuzz_auth      -
F4-auth-hmac-nul-keyid             fuzz_auth      -
F5-request-timeout-hex-sign        fuzz_request   -
F5-request-timeout-hex-space       fuzz_request   -
F6-demux-exec-without-output       fuzz_demux     -
"

bad=0

while read -r input harness route; do
    [ -n "$input" ] || continue

    env=()
    [ "$route" = - ] || env=(PSB_FUZZ_ROUTE="$route")

    if ! env "${env[@]}" "$BIN/$harness" "$HERE/$input" >/dev/null 2>&1; then
        echo "$input: fails even without PSB_FUZZ_STRICT"
        bad=1
        continue
    fi

    if out=$(env "${env[@]}" PSB_FUZZ_STRICT=1 "$BIN/$harness" \
                 "$HERE/$input" 2>&1)
    then
        echo "$input: no longer reproduces (fixed?)"
        continue
    fi

    echo "== $input ($harness${env:+, ${env[0]}})"
    printf '%s\n' "$out" | grep -E 'psb-fuzz: |runtime error' | head -n 4
done <<< "$CASES"

exit $bad
