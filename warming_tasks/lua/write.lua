-- Write a batch of cache entries in one round trip.
-- KEYS: the cache keys. ARGV[1]: mode; then value, ttl_s for each key in order.
--   set:  always write
--   nx:   write only where the key is absent (never overwrite the application)
--   live: write only where the key exists with a TTL (never resurrect a deleted
--         key, never touch a key the application made persistent)
-- Returns one integer per key: 1 written, 0 left alone.
local mode = ARGV[1]
local written = {}
for i, key in ipairs(KEYS) do
  local value = ARGV[2 * i]
  local ttl = ARGV[2 * i + 1]
  local ok
  if mode == 'nx' then
    ok = redis.call('SET', key, value, 'EX', ttl, 'NX')
  elseif mode == 'live' then
    if redis.call('PTTL', key) > 0 then
      ok = redis.call('SET', key, value, 'EX', ttl)
    end
  else
    ok = redis.call('SET', key, value, 'EX', ttl)
  end
  written[i] = ok and 1 or 0
end
return written
