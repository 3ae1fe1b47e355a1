-- The PTTL of every key in KEYS, in order: -2 missing, -1 no expiry, else ms left.
local ttls = {}
for i, key in ipairs(KEYS) do
  ttls[i] = redis.call('PTTL', key)
end
return ttls
