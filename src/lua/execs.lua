-- EXECS of a lease that run now (the admin view's activeExecs).
-- KEYS[1] <prefix>execs:{<id>}; ARGV now, marker, deadline ("" when
-- the exec ended). An exec whose end was never recorded drops out at
-- its deadline; the key expires with its last deadline.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[1], ARGV[2])
else
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then
  redis.call('PEXPIREAT', KEYS[1], last[2])
end
return 1
