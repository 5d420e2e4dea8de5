-- COMMIT an acquire: the lease is ready and its idle clock starts.
-- KEYS[1] lease; ARGV container, now, ttl_ms ("0" persists).
-- 0 when the lease was destroyed meanwhile.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'ready', 'cid', ARGV[1],
           'ready_at', ARGV[2], 'last_used', ARGV[2])
if ARGV[3] == '0' then
  redis.call('PERSIST', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1
