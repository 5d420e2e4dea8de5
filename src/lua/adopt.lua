-- ADOPT a live container whose record Redis lost (reaper, deployment
-- marker gone). KEYS[1] lease; ARGV now, container name, host, then
-- field/value pairs read from the container's labels. 1 adopted, 0 when
-- a record exists.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'ready', 'driver', 'docker',
           'kind', 'lease', 'container', ARGV[2], 'cid', ARGV[2],
           'docker', ARGV[3], 'created', ARGV[1], 'ready_at', ARGV[1],
           'last_used', ARGV[1], 'adopted', ARGV[1])
for i = 4, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
if redis.call('HGET', KEYS[1], 'keepalive') ~= '1' then
  redis.call('PEXPIRE', KEYS[1],
             redis.call('HGET', KEYS[1], 'sleep_ms') or '600000')
end
return 1
