-- The PTTL of every key in KEYS, in order: -2 missing, -1 no expiry, else ms left.
-- Called on a few hundred keys at a time (a refresh's dispatcher probes every hot
-- key): cheaper for Redis and the client than one PTTL command a key.
local ttls = {}
for i, key in ipairs(KEYS) do
  ttls[i] = redis.call('PTTL', key)
end
return ttls
