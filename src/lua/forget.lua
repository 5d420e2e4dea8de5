-- FORGET a lease whose container a reaper pass did not find (reaper).
-- KEYS[1] lease; ARGV listing time (ms), host, pass number of that host.
-- Only a lease ready before the listing and placed on the listed host
-- counts; it is deleted when the previous pass of that host missed it
-- too. 1 deleted, 0 kept.
if redis.call('HGET', KEYS[1], 'state') ~= 'ready'
   or tonumber(redis.call('HGET', KEYS[1], 'ready_at') or '0')
      >= tonumber(ARGV[1])
   or redis.call('HGET', KEYS[1], 'docker') ~= ARGV[2] then
  return 0
end
local pass = tonumber(ARGV[3])
local missed = tonumber(redis.call('HGET', KEYS[1], 'missed') or '-1')
if missed == pass - 1 then
  return redis.call('DEL', KEYS[1])
end
if missed ~= pass then
  redis.call('HSET', KEYS[1], 'missed', ARGV[3])
end
return 0
