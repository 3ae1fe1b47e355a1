-- Count one finished batch into its run, once, however often the batch ran.
-- KEYS[1]: run hash, KEYS[2]: set of finished batch indexes, KEYS[3]: error sample list,
-- KEYS[4]: the refresh lock.
-- ARGV[1]: batch index, ARGV[2]: lock token ('' for none), ARGV[3]: lock ttl ms,
-- ARGV[4]: run record ttl s, ARGV[5]: error sample length, ARGV[6]: number of counts n,
-- then n name, value pairs, then error entries.
-- Returns 1 when every batch of a fully dispatched run has finished.
local first = redis.call('SADD', KEYS[2], ARGV[1]) == 1
local n = tonumber(ARGV[6])
if first then
  for i = 7, 6 + 2 * n, 2 do
    redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
  end
  local keep = tonumber(ARGV[5])
  for i = 7 + 2 * n, #ARGV do
    if redis.call('LLEN', KEYS[3]) < keep then
      redis.call('RPUSH', KEYS[3], ARGV[i])
    end
  end
end
if ARGV[2] ~= '' and redis.call('GET', KEYS[4]) == ARGV[2] then
  redis.call('PEXPIRE', KEYS[4], ARGV[3])
end
for i = 1, 3 do
  redis.call('EXPIRE', KEYS[i], ARGV[4])
end
local total = redis.call('HGET', KEYS[1], 'total')
if total and tonumber(total) == redis.call('SCARD', KEYS[2]) then
  return 1
end
return 0
