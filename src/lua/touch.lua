-- TOUCH a ready lease (exec, resume).
-- KEYS[1] lease; ARGV now, ttl_ms ("" keeps the record's policy),
-- credential, admin, the bridge's hosts (as for BEGIN), placement ("1":
-- the lease must be on one of them), then field/value pairs. nil for a
-- missing or unfinished lease, -1 when another credential owns it,
-- {-4, host} when its host is not one of ours (the record is untouched),
-- else the record.
if redis.call('HGET', KEYS[1], 'state') ~= 'ready' then
  return false
end
if redis.call('HGET', KEYS[1], 'cred') ~= ARGV[3]
   and ARGV[4] ~= '1' then
  return -1
end
if ARGV[6] == '1' then
  local host = redis.call('HGET', KEYS[1], 'docker')
  if host then
    local known = false
    for name in string.gmatch(ARGV[5], '([^\t\n]+)\t[^\n]*\n') do
      if name == host then
        known = true
      end
    end
    if not known then
      return {-4, host}
    end
  end
end
for i = 7, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('HSET', KEYS[1], 'last_used', ARGV[1])
local ttl = ARGV[2]
if ttl == '' then
  if redis.call('HGET', KEYS[1], 'keepalive') == '1' then
    ttl = '0'
  else
    ttl = redis.call('HGET', KEYS[1], 'sleep_ms') or '600000'
  end
end
if ttl == '0' then
  redis.call('PERSIST', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return redis.call('HGETALL', KEYS[1])
