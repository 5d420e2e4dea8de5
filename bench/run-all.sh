#!/usr/bin/env bash
# bench/run-all.sh [NAME...] -- run the benchmarks one after the other
# (default: health lease stream idle-streams first-byte warm-acquire
# idle-10k) and
# collect their summaries in bench/results/run-all-<UTC time>.txt.
#
# The private services (util/services.sh, PSB_INSTANCE=bench) are started
# once for the whole run and stopped at the end, unless they were already
# running, and the module is built once and copied, so that every
# benchmark tests the same .so.  Each benchmark starts and stops its own nginx, removes its
# containers and Redis keys, and is bounded in time (see bench/lib.sh); a
# failing benchmark is reported and the others still run.  About 6 minutes,
# and 10-15 more for idle-10k (10 000 streams on one worker).
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd -P)
ROOT=$(cd "$BENCH_DIR/.." && pwd -P)
export PSB_INSTANCE=${PSB_INSTANCE:-bench}
NAMES=(health lease stream idle-streams first-byte warm-acquire idle-10k)
[ $# -gt 0 ] && NAMES=("$@")

started=0
SO_COPY=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "$SO_COPY" ] && rm -f "$SO_COPY"
    if [ "$started" = 1 ]; then
        "$ROOT/util/services.sh" stop -q >/dev/null 2>&1 || { echo "run-all: services stop failed" >&2; rc=1; }
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for n in "${NAMES[@]}"; do
    [ -x "$BENCH_DIR/$n.sh" ] || { echo "run-all: no benchmark $n" >&2; exit 2; }
done

mkdir -p "$ROOT/bench/results"
OUT=$ROOT/bench/results/run-all-$(date -u +%Y%m%dT%H%M%SZ).txt
make -s -C "$ROOT" build >/dev/null || { echo "run-all: make build failed" >&2; exit 1; }
# one private copy of the module for every benchmark of the run
SO_COPY=$(mktemp /tmp/psb-bench-module.XXXXXX)
cp -p "$ROOT/build/module/ngx_http_sandbox_bridge_module.so" "$SO_COPY"
export BENCH_SO=$SO_COPY
# idle-10k: dockerd, started here, needs ~3 fds per stream
[ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge 65536 ] \
    || ulimit -Hn 65536 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if ! "$ROOT/util/services.sh" status -q 2>/dev/null; then
    "$ROOT/util/services.sh" start -q || { echo "run-all: util/services.sh start failed" >&2; exit 1; }
    started=1
fi

failed=()
for n in "${NAMES[@]}"; do
    echo "run-all: $n ..." >&2
    log=$(mktemp)
    t0=$SECONDS
    "$BENCH_DIR/$n.sh" > "$log" 2>&1
    rc=$?
    dir=$(sed -n 's/.*results in \(bench\/results\/[^ ]*\).*/\1/p' "$log" | tail -n 1)
    {
        if [ -n "$dir" ] && [ -f "$ROOT/$dir/summary.txt" ]; then
            cat "$ROOT/$dir/summary.txt"
            echo "(details: $dir; $((SECONDS - t0)) s; exit $rc)"
        else
            echo "== $n: no results (exit $rc)"
            tail -n 20 "$log"
        fi
        echo
    } >> "$OUT"
    [ "$rc" = 0 ] || { failed+=("$n"); tail -n 5 "$log" >&2; }
    rm -f "$log"
    echo "run-all: $n done in $((SECONDS - t0)) s (exit $rc)" >&2
done

cat "$OUT"
echo "run-all: summary in ${OUT#$ROOT/}" >&2
if [ ${#failed[@]} -gt 0 ]; then
    echo "run-all: failed: ${failed[*]}" >&2
    exit 1
fi
