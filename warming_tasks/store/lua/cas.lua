-- Write where the cache still holds the bytes a batch saw before it loaded the key
-- (a compare-and-set; Redis before 8.4 has no SET ... IFEQ). Called on a few dozen
-- keys at a time, so one call never holds Redis for long.
-- KEYS: the cache keys. ARGV[1]: '1' when the key must still have a TTL (refresh:
-- never touch a key the application made persistent), then expected, value, ttl_s
-- for each key in order.
-- Returns per key: 1 written, 0 left alone (the application wrote, deleted or
-- persisted it since), or the error Redis gave for that key alone.
local need_ttl = ARGV[1] == '1'
local written = {}
for i, key in ipairs(KEYS) do
  local at = 3 * i - 1
  -- OBJECT ENCODING first: a GET of a key gone since the batch looked (expired)
  -- would publish a key miss, counted by `warming-tasks listen` (see look.lua).
  local held = false
  if redis.call('OBJECT', 'ENCODING', key) then
    held = redis.pcall('GET', key)
  end
  local same = held == ARGV[at]
  if same and need_ttl then
    same = redis.call('PTTL', key) > 0
  end
  written[i] = 0
  if same then
    local reply = redis.pcall('SET', key, ARGV[at + 1], 'EX', ARGV[at + 2])
    written[i] = type(reply) == 'table' and reply.err or 1
  end
end
return written
