-- DESTROY a lease record (release, DELETE).
-- KEYS[1] lease; ARGV credential, admin. 1 forgotten, 0 unknown,
-- -1 when another credential owns it.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
if redis.call('HGET', KEYS[1], 'cred') ~= ARGV[1]
   and ARGV[2] ~= '1' then
  return -1
end
return redis.call('DEL', KEYS[1])
