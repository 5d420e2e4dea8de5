-- COUNT lease records by state, one SCAN step (the metrics' lease gauge).
-- ARGV cursor, match pattern, count. Returns {next cursor, creating,
-- ready, other}.
local r = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
local creating, ready, other = 0, 0, 0
for _, k in ipairs(r[2]) do
  local s = redis.pcall('HGET', k, 'state')
  if s == 'creating' then
    creating = creating + 1
  elseif s == 'ready' then
    ready = ready + 1
  elseif type(s) == 'string' then
    other = other + 1
  end
end
return {r[1], creating, ready, other}
