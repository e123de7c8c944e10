-- Replace a blob only if it is still the one the caller read, keeping its TTL.
-- KEYS[1]: key   ARGV[1]: expected blob   ARGV[2]: new blob
-- Returns 1 when replaced, 2 when the key already holds the new blob (a retry of
-- a call whose first copy ran: blobs of counters are unique per write, so this
-- is the caller's own write), 0 when the value changed meanwhile, -1 when gone.
local current = redis.call('GET', KEYS[1])
if current == false then
  return -1
end
if current == ARGV[2] then
  return 2
end
if current ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1
