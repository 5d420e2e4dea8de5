-- DESTROY a lease record (release, DELETE).
-- KEYS[1] lease; ARGV credential, admin, the bridge's hosts (as for
-- BEGIN), placement ("1": the lease must be on one of them, up), the key
-- prefix. 1 forgotten, 0 unknown, -1 when another credential owns it;
-- {-4, host} when its host is not one of ours, {-5, host} when it is
-- down: the record is kept. Else {1, host}: the host to remove it from.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
if redis.call('HGET', KEYS[1], 'cred') ~= ARGV[1]
   and ARGV[2] ~= '1' then
  return -1
end
if ARGV[4] ~= '1' then
  return redis.call('DEL', KEYS[1])
end
local first
local host = redis.call('HGET', KEYS[1], 'docker')
for name, up in string.gmatch(ARGV[3], '([^\t\n]+)\t%d+\t%d+\t(%d)\n') do
  first = first or name
  host = host or first
  if name == host then
    if up ~= '1' then
      return {-5, host}
    end
    redis.call('SREM', ARGV[5] .. 'hostleases:' .. host,
               redis.call('HGET', KEYS[1], 'id') or '')
    redis.call('DEL', KEYS[1])
    return {1, host}
  end
end
return {-4, host}
