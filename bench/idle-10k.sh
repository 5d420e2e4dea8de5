#!/usr/bin/env bash
# bench/idle-10k.sh -- bench/idle-streams.sh with 10 000 idle streams on
# one nginx worker (bench/README.md "idle-10k"): 50 leases (200 commands
# per container, under sandbox_pids_limit), opened 500 at a time, one
# round, `sleep 1800` so that the first commands still run when the last
# stream opens. The knobs of idle-streams.sh still apply.
export STREAMS=${STREAMS:-10000}
export LEASES=${LEASES:-50}
export ROUNDS=${ROUNDS:-1}
export BATCH=${BATCH:-500}
export SLEEP=${SLEEP:-1800}
export HOLD=${HOLD:-5}
exec "$(dirname "$0")/idle-streams.sh"
