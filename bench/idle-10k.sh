#!/usr/bin/env bash
# bench/idle-10k.sh -- bench/idle-streams.sh with 10 000 idle streams on
# one nginx worker (bench/README.md "Idle streams on one worker"): 200
# commands per lease container (under sandbox_pids_limit), opened 300 at
# a time, one round, `sleep 1800` so that the first commands still run
# when the last stream opens. The knobs of idle-streams.sh still apply.
#
# Open files bound it: the worker holds 2 per stream (client and Docker
# socket, plus one per exec create in flight) and a dockerd ~5.1 per
# attached exec. The hard limit is raised where that is allowed (root
# with CAP_SYS_RESOURCE); where it is not, STREAMS becomes the largest
# multiple of 100 the worker can hold and the summary says so, and the
# streams are spread over as many dockerds (DOCKERDS) as their fds need.
STREAMS=${STREAMS:-10000}
lim=$(ulimit -Hn)
if [ "$lim" != unlimited ] && [ "$lim" -lt $(( STREAMS * 6 + 4096 )) ]; then
    ulimit -Hn $(( STREAMS * 6 + 4096 )) 2>/dev/null || true
    lim=$(ulimit -Hn)
fi
[ "$lim" = unlimited ] && lim=1048576
fit=$(( (lim - 400) / 2 / 100 * 100 ))
if [ "$fit" -lt "$STREAMS" ]; then
    export IDLE_NOTE="the hard limit of open files is $lim (RLIMIT_NOFILE, not raisable here): one worker holds at most ~$(( (lim - 400) / 2 )) streams, so $fit instead of $STREAMS"
    STREAMS=$fit
fi
export STREAMS
export LEASES=${LEASES:-$(( (STREAMS + 199) / 200 ))}
export DOCKERDS=${DOCKERDS:-$(( (STREAMS * 51 / 10 + lim - 2001) / (lim - 2000) ))}
export ROUNDS=${ROUNDS:-1}
export BATCH=${BATCH:-300}
export SLEEP=${SLEEP:-1800}
export HOLD=${HOLD:-5}
exec "$(dirname "$0")/idle-streams.sh"
