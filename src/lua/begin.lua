-- BEGIN an acquire or probe.
-- KEYS[1] lease; ARGV now, ttl_ms ("0" persists), credential, admin
-- ("1"), then field/value pairs. Returns the previous state, or -1 when
-- another credential owns the lease.
local prev = redis.call('HGET', KEYS[1], 'state')
if not prev then
  redis.call('HSET', KEYS[1], 'created', ARGV[1], 'state', 'creating',
             'cred', ARGV[3])
elseif redis.call('HGET', KEYS[1], 'cred') ~= ARGV[3]
       and ARGV[4] ~= '1' then
  return -1
end
for i = 5, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('HSET', KEYS[1], 'last_used', ARGV[1])
if ARGV[2] == '0' then
  redis.call('PERSIST', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return prev or false
