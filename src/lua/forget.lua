-- FORGET a lease whose container a reaper pass did not find (reaper).
-- KEYS[1] lease; ARGV listing time (ms), which also names the pass,
-- host, the host's previous pass ("0": unknown). Only a lease ready
-- before the listing and placed on the listed host counts; it is deleted
-- when the previous pass of that host missed it too. 1 deleted, 0 kept.
if redis.call('HGET', KEYS[1], 'state') ~= 'ready'
   or tonumber(redis.call('HGET', KEYS[1], 'ready_at') or '0')
      >= tonumber(ARGV[1])
   or redis.call('HGET', KEYS[1], 'docker') ~= ARGV[2] then
  return 0
end
local missed = redis.call('HGET', KEYS[1], 'missed')
if ARGV[3] ~= '0' and missed == ARGV[3] then
  return redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'missed', ARGV[1])
return 0
