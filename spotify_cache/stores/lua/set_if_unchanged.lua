-- Write a read-through result only if the key still holds what the loader saw:
-- nothing (ARGV[1] == "") or exactly the blob or invalidation marker it read.
-- An invalidation, or any other write, since the loader's read makes it a no-op.
-- KEYS[1]: key   ARGV[1]: expected blob or ""   ARGV[2]: new blob
-- ARGV[3]: milliseconds, or "" for no expiry
-- Returns 1 when written (or already holding this very blob: a retried call
-- whose first copy ran), 0 otherwise.
local current = redis.call('GET', KEYS[1])
if current == ARGV[2] then
  return 1
end
if ARGV[1] == '' then
  if current ~= false then
    return 0
  end
elseif current ~= ARGV[1] then
  return 0
end
if ARGV[3] == '' then
  redis.call('SET', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
