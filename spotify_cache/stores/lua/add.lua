-- Store a blob only if the key is free: absent, or holding an invalidation marker.
-- KEYS[1]: key   ARGV[1]: blob   ARGV[2]: milliseconds, or "" for no expiry
-- ARGV[3]: the marker's prefix (framing.TOMBSTONE)
-- Returns 1 when stored (or already holding this very blob: a retried call whose
-- first copy ran), 0 when the key held another value.
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  return 1
end
if current ~= false and string.sub(current, 1, string.len(ARGV[3])) ~= ARGV[3] then
  return 0
end
if ARGV[2] == '' then
  redis.call('SET', KEYS[1], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1
