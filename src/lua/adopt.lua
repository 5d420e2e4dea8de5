-- ADOPT a live container whose record Redis lost (reaper, deployment
-- marker gone). KEYS[1] lease, KEYS[2] the container's orphan mark; ARGV
-- this pass's listing time (ms), the mark's TTL (ms), now, container
-- name, host, placement ("1": the host's lease set counts it), the key
-- prefix, then field/value pairs read from the container's labels.
-- 1 adopted; 0 when a record exists; 2 when no earlier pass found it
-- without a record (a release may be removing it): the mark is set.
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('DEL', KEYS[2])
  return 0
end
local seen = tonumber(redis.call('GET', KEYS[2]) or '-1')
if seen < 0 or seen >= tonumber(ARGV[1]) then
  if seen < 0 then
    redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  end
  return 2
end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'state', 'ready', 'driver', 'docker',
           'kind', 'lease', 'container', ARGV[4], 'cid', ARGV[4],
           'docker', ARGV[5], 'created', ARGV[3], 'ready_at', ARGV[3],
           'last_used', ARGV[3], 'adopted', ARGV[3])
for i = 8, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
if ARGV[6] == '1' then
  redis.call('SADD', ARGV[7] .. 'hostleases:' .. ARGV[5],
             redis.call('HGET', KEYS[1], 'id') or '')
end
if redis.call('HGET', KEYS[1], 'keepalive') ~= '1' then
  redis.call('PEXPIRE', KEYS[1],
             redis.call('HGET', KEYS[1], 'sleep_ms') or '600000')
end
return 1
