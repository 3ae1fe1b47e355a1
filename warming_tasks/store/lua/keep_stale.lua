-- Keep values a refresh could not reload (the source failed): extend each key's
-- expiry, only where it still holds the bytes the batch saw and has a TTL, never
-- beyond its grace's end: the grace counts from the expiry the key had when it was
-- first kept (the sorted set KEYS[1] remembers it; a record whose grace has ended
-- starts anew). Redis' clock is the one clock. Called on a few dozen small values
-- at a time; larger ones go a key at a time with WATCH (store/stale.py).
-- KEYS[1]: first expiries (ms, sorted set of application keys), KEYS[2..]: the
-- cache keys. ARGV[1]: keep until now + this (ms), ARGV[2]: grace (ms), then the
-- application's key for each cache key, then the bytes seen for each.
-- Returns per key: 2 extended, 1 kept as it is (its grace is open and it lives
-- long enough already), 0 not kept (changed, no TTL, or its grace has ended).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local keep, grace = tonumber(ARGV[1]), tonumber(ARGV[2])
local n = #KEYS - 1
-- Records whose grace ended long ago: their keys have expired; forget a few a call.
local over = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - grace), 'LIMIT', 0, 32)
if #over > 0 then
  redis.call('ZREM', KEYS[1], unpack(over))
end
local kept = {}
for i = 1, n do
  kept[i] = 0
  local key, member = KEYS[i + 1], ARGV[2 + i]
  -- OBJECT ENCODING first: a GET of a key gone since the batch looked would
  -- publish a key miss, counted by `warming-tasks listen` (see look.lua).
  if redis.call('OBJECT', 'ENCODING', key) and redis.pcall('GET', key) == ARGV[2 + n + i] then
    -- The key's own expiry, exact: TIME runs on while the script's PTTL reads a
    -- clock frozen at its start, so now + PTTL can be a millisecond late.
    local expires = redis.call('PEXPIRETIME', key)
    if expires > 0 then
      local first = tonumber(redis.call('ZSCORE', KEYS[1], member))
      if not first or first + grace <= now then
        first = expires
      end
      local until_ms = math.min(now + keep, first + grace)
      if until_ms > expires then
        redis.call('PEXPIREAT', key, until_ms)
        redis.call('ZADD', KEYS[1], first, member)
        kept[i] = 2
      elseif first + grace > now then
        kept[i] = 1
      end
    end
  end
end
return kept
