-- LEASES for the admin view (GET <prefix>/leases[/<id>]).
-- One lease: KEYS[1] lease, KEYS[2] its execs; ARGV now, key prefix.
-- A page: no KEYS; ARGV now, key prefix, SCAN cursor, MATCH, COUNT.
-- Returns {cursor, {record, pttl, active execs}, ...}; "0" when done.
local function view(key, execs)
  if redis.call('TYPE', key).ok ~= 'hash' then
    return nil
  end
  local h = redis.call('HGETALL', key)
  if not execs then
    for i = 1, #h, 2 do
      if h[i] == 'id' then
        execs = ARGV[2] .. 'execs:{' .. h[i + 1] .. '}'
      end
    end
  end
  local active = 0
  if execs then
    active = redis.call('ZCOUNT', execs, '(' .. ARGV[1], '+inf')
  end
  return {h, redis.call('PTTL', key), active}
end
local out = {}
local cursor = '0'
if #KEYS == 2 then
  out[1] = view(KEYS[1], KEYS[2])
else
  local r = redis.call('SCAN', ARGV[3], 'MATCH', ARGV[4], 'COUNT', ARGV[5])
  cursor = r[1]
  for _, k in ipairs(r[2]) do
    local v = view(k, nil)
    if v then
      out[#out + 1] = v
    end
  end
end
return {cursor, out}
