-- BEGIN an acquire or probe.
-- KEYS[1] lease; ARGV now, ttl_ms ("0" persists), credential, admin
-- ("1"), the bridge's hosts (a line "name\tweight\tmax\tup" each),
-- placement ("0": one plain location, which takes every lease as
-- before), the key prefix, the warm pool configuration ("" for none),
-- then field/value pairs. With placement a new lease goes to the host
-- that is up with the lowest leases/weight below its max (ties: the
-- first; leases counted in a set per host, pruned of records gone or
-- moved), an existing one stays on its host. A new lease takes (SPOP) a
-- container of its host's warm pool of that configuration, if any.
-- Returns {previous state or "", host, pool container id or ""}; -1 when
-- another credential owns the lease; {-2, ""} when every host that is up is full, {-3, ""} when
-- none is up; {-4, host} when the lease's host is not one of ours,
-- {-5, host} when it is down (the record is untouched).
local hosts, byname = {}, {}
for name, w, max, up in string.gmatch(ARGV[5],
                                      '([^\t\n]+)\t(%d+)\t(%d+)\t(%d)\n') do
  local h = {name = name, w = tonumber(w), max = tonumber(max),
             up = up == '1'}
  hosts[#hosts + 1] = h
  byname[name] = h
end
local track = ARGV[6] == '1'
local function leases(h)
  local set = ARGV[7] .. 'hostleases:' .. h.name
  for _, id in ipairs(redis.call('SMEMBERS', set)) do
    if redis.call('HGET', ARGV[7] .. 'lease:{' .. id .. '}', 'docker')
       ~= h.name then
      redis.call('SREM', set, id)
    end
  end
  return redis.call('SCARD', set)
end
local prev = redis.call('HGET', KEYS[1], 'state')
local host, popped = nil, ''
if prev then
  if redis.call('HGET', KEYS[1], 'cred') ~= ARGV[3] and ARGV[4] ~= '1' then
    return -1
  end
  host = redis.call('HGET', KEYS[1], 'docker') or hosts[1].name
  if not track then
    host = hosts[1].name
    redis.call('HSET', KEYS[1], 'docker', host)
  elseif not byname[host] then
    return {-4, host}
  end
  if not byname[host].up then
    return {-5, host}
  end
else
  local best, bn, bw, anyup = nil, 0, 1, false
  for _, h in ipairs(hosts) do
    if h.up then
      anyup = true
      local n = track and leases(h) or 0
      if (h.max == 0 or n < h.max) and (not best or n * bw < bn * h.w) then
        best, bn, bw = h, n, h.w
      end
    end
  end
  if not best then
    return {anyup and -2 or -3, ''}
  end
  host = best.name
  redis.call('HSET', KEYS[1], 'created', ARGV[1], 'state', 'creating',
             'cred', ARGV[3], 'docker', host)
  if ARGV[8] ~= '' then
    popped = redis.call('SPOP', ARGV[7] .. 'pool:{' .. host .. '}:' ..
                        ARGV[8]) or ''
  end
end
for i = 9, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('HSET', KEYS[1], 'last_used', ARGV[1])
if ARGV[2] == '0' then
  redis.call('PERSIST', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if track then
  redis.call('SADD', ARGV[7] .. 'hostleases:' .. host,
             redis.call('HGET', KEYS[1], 'id'))
end
return {prev or '', host, popped}
