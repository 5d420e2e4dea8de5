-- UNLOCK a lock taken with SET NX PX: KEYS[1] the lock, ARGV[1] the
-- holder's token. Deleted only while that holder still has it (once it
-- expired another may hold it). Returns 1 when deleted, else 0.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
