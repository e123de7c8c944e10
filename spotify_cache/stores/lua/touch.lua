-- Give an existing key a new TTL in one step.
-- KEYS[1]: key   ARGV[1]: milliseconds, or "" for no expiry, or "0" to expire now
-- Returns 1 if the key existed, 0 otherwise.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
if ARGV[1] == '' then
  redis.call('PERSIST', KEYS[1])
elseif tonumber(ARGV[1]) <= 0 then
  redis.call('UNLINK', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return 1
