-- Reserve keys from the source budget, shared by every worker (GCRA: the budget
-- is the time at which its next key may be loaded). Redis' clock is the one clock.
-- Not the `limits` library: its windows let a whole window through at every start
-- and must be polled (docs/operations.md, "The source budget", says why).
-- KEYS[1]: the budget. ARGV[1]: keys to load, ARGV[2]: keys per second.
-- Returns the seconds the caller waits before loading them (0: at once), as text.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local start = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local after = start + tonumber(ARGV[1]) / tonumber(ARGV[2])
redis.call('SET', KEYS[1], string.format('%.6f', after), 'PX', math.ceil((after - now) * 1000) + 1000)
return string.format('%.6f', start - now)
