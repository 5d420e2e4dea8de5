-- HOSTS: count the leases placed on each host (health).
-- ARGV the key prefix, then host names. The per-host sets are pruned of
-- records gone or moved, as BEGIN does; returns one count per host.
local out = {}
for i = 2, #ARGV do
  local set = ARGV[1] .. 'hostleases:' .. ARGV[i]
  for _, id in ipairs(redis.call('SMEMBERS', set)) do
    if redis.call('HGET', ARGV[1] .. 'lease:{' .. id .. '}', 'docker')
       ~= ARGV[i] then
      redis.call('SREM', set, id)
    end
  end
  out[#out + 1] = redis.call('SCARD', set)
end
return out
