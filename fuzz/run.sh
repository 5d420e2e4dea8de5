#!/usr/bin/env bash
# Run every libFuzzer harness for a while; fail if any of them finds
# something.
#
#   fuzz/run.sh [SECONDS] [HARNESS ...]     default: 60 s, all harnesses
#
# Each harness starts from its seed corpus in fuzz/corpus/<harness>/ (read
# only; new inputs go to a scratch copy) and runs with -max_total_time.
# Crashes, leaks, timeouts and broken invariants are written to one temp
# directory, which is kept and printed when there is a finding.
#
# Environment: FUZZ_PARALLEL (harnesses at a time, default 2),
# FUZZ_NO_BUILD=1 (use the binaries as they are), FUZZ_BUILD (build dir,
# default build/fuzz), FUZZ_ARGS (extra libFuzzer flags), PSB_FUZZ_STRICT=1
# (also fail on the known findings of crashes-found/README.md).
set -euo pipefail

FUZZ=$(cd "$(dirname "$0")" && pwd -P)
ROOT=$(cd "$FUZZ/.." && pwd -P)
OUT=${FUZZ_BUILD:-$ROOT/build/fuzz}
PARALLEL=${FUZZ_PARALLEL:-2}

SECS=${1:-60}
[ $# -gt 0 ] && shift
case "$SECS" in
    ''|*[!0-9]*) echo "usage: $0 [SECONDS] [HARNESS ...]" >&2; exit 2 ;;
esac

HARNESSES=${*:-fuzz_request fuzz_auth fuzz_demux fuzz_sse fuzz_redis}

if [ "${FUZZ_NO_BUILD:-0}" != 1 ]; then
    # shellcheck disable=SC2086
    "$FUZZ/build.sh" $HARNESSES
fi

WORK=$(mktemp -d /tmp/psb-fuzz.XXXXXX)
CRASHES=$WORK/crashes
mkdir -p "$CRASHES"

run_one() {
    local h=$1 bin=$OUT/bin/$1 dir=$WORK/$1 rc=0
    mkdir -p "$dir/corpus"

    # shellcheck disable=SC2086
    "$bin" -max_total_time="$SECS" -timeout=25 -print_final_stats=1 \
        -artifact_prefix="$CRASHES/$h-" ${FUZZ_ARGS:-} \
        "$dir/corpus" "$FUZZ/corpus/$h" > "$dir/log" 2>&1 || rc=$?
    echo "$rc" > "$dir/rc"
}

pids=()
for h in $HARNESSES; do
    [ -x "$OUT/bin/$h" ] || { echo "run.sh: no $OUT/bin/$h" >&2; exit 2; }
    [ -d "$FUZZ/corpus/$h" ] || { echo "run.sh: no corpus/$h" >&2; exit 2; }

    echo "run.sh: $h for ${SECS}s"
    run_one "$h" &
    pids+=($!)

    if [ ${#pids[@]} -ge "$PARALLEL" ]; then
        wait "${pids[0]}" || true
        pids=("${pids[@]:1}")
    fi
done

for pid in "${pids[@]}"; do
    wait "$pid" || true
done

printf '\n%-14s %8s %12s %9s %7s  %s\n' harness seconds executions 'exec/s' \
    corpus result
failed=0

for h in $HARNESSES; do
    dir=$WORK/$h
    rc=$(cat "$dir/rc" 2>/dev/null || echo 99)

    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" \
            | tail -n 1 || true)
    if [ -z "$execs" ]; then
        # no final stats (a crash): the last "#N" status line
        execs=$(grep -oE '^#[0-9]+' "$dir/log" | tail -n 1 | tr -d '#' \
                || true)
    fi
    secs=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$dir/log" \
           | awk '{ print $5 }' | tail -n 1 || true)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" \
           | tail -n 1 || true)
    units=$(find "$dir/corpus" -type f | wc -l)

    found=$(find "$CRASHES" -name "$h-*" -type f | wc -l)
    if [ "$rc" = 0 ] && [ "$found" = 0 ]; then
        result=ok
    else
        result="FOUND (rc $rc, $found artifacts)"
        failed=1
    fi

    printf '%-14s %8s %12s %9s %7s  %s\n' "$h" "${secs:-?}" "${execs:-?}" \
        "${rate:-?}" "$units" "$result"
done

if [ $failed = 1 ]; then
    echo
    for h in $HARNESSES; do
        if [ "$(cat "$WORK/$h/rc" 2>/dev/null)" != 0 ]; then
            echo "==== $h ($WORK/$h/log)"
            grep -E 'psb-fuzz: |ERROR: |runtime error|SUMMARY' \
                "$WORK/$h/log" | head -n 12 || true
        fi
    done
    echo
    echo "run.sh: findings in $CRASHES (logs in $WORK)"
    ls -l "$CRASHES"
    exit 1
fi

rm -rf "$WORK"
echo "run.sh: no findings"
