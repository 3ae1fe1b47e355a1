-- Keep values a refresh could not reload (the source failed): extend each key's
-- expiry, only where it still holds the bytes the batch saw and has a TTL, never
-- beyond its grace's end: ``grace`` past the expiry it had when first kept.
-- Called on a few dozen keys at a time (on a cluster, one).
-- KEYS: the cache keys. ARGV[1]: now (ms), ARGV[2]: keep until now + this (ms),
-- ARGV[3]: grace (ms), then for each key the bytes seen, then for each key the
-- expiry it had when first kept (ms; 0: never kept before, it is its expiry now).
-- Returns per key the expiry its grace counts from, 0 where not kept.
local now = tonumber(ARGV[1])
local keep = tonumber(ARGV[2])
local grace = tonumber(ARGV[3])
local n = #KEYS
local firsts = {}
for i, key in ipairs(KEYS) do
  firsts[i] = 0
  if redis.pcall('GET', key) == ARGV[3 + i] then
    local pttl = redis.call('PTTL', key)
    if pttl > 0 then
      local first = tonumber(ARGV[3 + n + i])
      if first == 0 then
        first = now + pttl
      end
      local until_ms = math.min(now + keep, first + grace)
      if until_ms > now then
        firsts[i] = first
        if until_ms > now + pttl then
          redis.call('PEXPIREAT', key, until_ms)
        end
      end
    end
  end
end
return firsts
