-- What a batch sees of each key in KEYS before it loads it, in one short call:
-- flattened {value, pttl, value, pttl, ...} in order. value: false (absent, or
-- not a string), the bytes, or, once the values read add up to ARGV[1] bytes (-1:
-- no bound), its length alone: the caller reads it on a call of its own, so no
-- call copies much. pttl: -2 missing, -1 no expiry, else ms left.
-- Each key is looked up with OBJECT ENCODING first, as in pttl.lua: Redis does not
-- report that lookup as a key miss, while a GET or PTTL of an absent key publishes
-- __keyevent@<db>__:keymiss, which `warming-tasks listen` would count as the
-- application's miss (a refresh looks at keys about to expire: some are gone).
-- Within one script the clock stands still: a key OBJECT finds is there for GET.
local left = tonumber(ARGV[1])
local seen = {}
for i, key in ipairs(KEYS) do
  local value, ttl = false, -2
  if redis.call('OBJECT', 'ENCODING', key) then
    ttl = redis.call('PTTL', key)
    local size = redis.pcall('STRLEN', key)
    if type(size) == 'number' then
      if left >= 0 and size > left then
        value = size
      else
        value = redis.call('GET', key)
        left = left >= 0 and left - size or left
      end
    end
  end
  seen[2 * i - 1] = value
  seen[2 * i] = ttl
end
return seen
