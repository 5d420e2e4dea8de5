-- LEASES for the admin view (GET <prefix>/leases[/<id>]).
-- One lease: KEYS[1] lease; ARGV now, key prefix.
-- A page: no KEYS; ARGV now, key prefix, SCAN cursor, MATCH, COUNT.
-- Returns {cursor, {record, pttl, active execs}, ...}; "0" when done.
-- Active execs are the fields of the container's running-exec record
-- ("<prefix>exec:{<container>}", "<host> <pid> <deadline ms>") whose
-- deadline has not passed.
local function view(key)
  if redis.call('TYPE', key).ok ~= 'hash' then
    return nil
  end
  local h = redis.call('HGETALL', key)
  local active = 0
  for i = 1, #h, 2 do
    if h[i] == 'container' then
      local execs = redis.call('HGETALL',
                               ARGV[2] .. 'exec:{' .. h[i + 1] .. '}')
      for j = 2, #execs, 2 do
        local deadline = tonumber(string.match(execs[j], '(%d+)$'))
        if deadline and deadline > tonumber(ARGV[1]) then
          active = active + 1
        end
      end
    end
  end
  return {h, redis.call('PTTL', key), active}
end
local out = {}
local cursor = '0'
if #KEYS == 1 then
  out[1] = view(KEYS[1])
else
  local r = redis.call('SCAN', ARGV[3], 'MATCH', ARGV[4], 'COUNT', ARGV[5])
  cursor = r[1]
  for _, k in ipairs(r[2]) do
    local v = view(k)
    if v then
      out[#out + 1] = v
    end
  end
end
return {cursor, out}
