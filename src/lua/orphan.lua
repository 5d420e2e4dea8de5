-- ORPHAN: may the reaper remove a container without a lease record?
-- KEYS[1] lease, KEYS[2] the container's orphan mark; ARGV this pass's
-- listing time (ms), the mark's TTL (ms). 1 when an earlier pass found
-- no record either, else 0 (and the mark is set or cleared).
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('DEL', KEYS[2])
  return 0
end
local seen = tonumber(redis.call('GET', KEYS[2]) or '-1')
if seen >= 0 and seen < tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[2])
  return 1
end
if seen < 0 then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
end
return 0
