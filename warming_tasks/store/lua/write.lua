-- Write a batch of cache entries in one round trip.
-- KEYS: the cache keys. ARGV[1]: mode; then value, ttl_s for each key in order.
--   set:  always write
--   nx:   write only where the key is absent (never overwrite the application)
--   live: write only where the key exists with a TTL (never resurrect a deleted
--         key, never touch a key the application made persistent)
-- Returns one entry per key: 1 written, 0 left alone, or the error Redis gave for
-- that key alone (the other keys of the batch are still written).
local mode = ARGV[1]
local written = {}
for i, key in ipairs(KEYS) do
  local value = ARGV[2 * i]
  local ttl = ARGV[2 * i + 1]
  local reply = false
  if mode == 'nx' then
    reply = redis.pcall('SET', key, value, 'EX', ttl, 'NX')
  elseif mode == 'live' then
    local pttl = redis.pcall('PTTL', key)
    if type(pttl) == 'number' and pttl > 0 then
      reply = redis.pcall('SET', key, value, 'EX', ttl)
    else
      reply = pttl
    end
  else
    reply = redis.pcall('SET', key, value, 'EX', ttl)
  end
  if type(reply) == 'table' and reply.err then
    written[i] = reply.err
  elseif reply and type(reply) ~= 'number' then
    written[i] = 1
  else
    written[i] = 0
  end
end
return written
