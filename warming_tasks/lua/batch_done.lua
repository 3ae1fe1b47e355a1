-- Count one finished batch into its run, once, however often the batch ran, and
-- record the sample of keys it warmed for accounting.
-- KEYS[1]: run hash, KEYS[2]: set of finished batch indexes, KEYS[3]: error sample list,
-- KEYS[4]: the refresh lock, KEYS[5]: warmed-key samples, KEYS[6]: accounting counters.
-- ARGV[1]: batch index, ARGV[2]: lock token ('' for none), ARGV[3]: lock ttl ms,
-- ARGV[4]: run record ttl s, ARGV[5]: error sample length, ARGV[6]: now (s),
-- ARGV[7]: number of counts n, ARGV[8]: number of errors m, ARGV[9]: strategy code,
-- ARGV[10]: keys the batch warmed, ARGV[11]: most samples kept, ARGV[12]: when they
-- were written (s), then n name, value pairs, m error entries, and key, ttl_s pairs
-- of the sample.
-- Returns 1 when every batch below the run's total has finished: the run is then
-- stamped finished_at once, so every summary built from it is the same.
local run = KEYS[1]
local index = tonumber(ARGV[1])
local finished = redis.call('HEXISTS', run, 'finished_at') == 1
local first = redis.call('SADD', KEYS[2], ARGV[1]) == 1
local n = tonumber(ARGV[7])
local m = tonumber(ARGV[8])
if first and not finished then
  for i = 13, 12 + 2 * n, 2 do
    redis.call('HINCRBY', run, ARGV[i], ARGV[i + 1])
  end
  local keep = tonumber(ARGV[5])
  for i = 13 + 2 * n, 12 + 2 * n + m do
    if redis.call('LLEN', KEYS[3]) < keep then
      redis.call('RPUSH', KEYS[3], ARGV[i])
    end
  end
  local total = redis.call('HGET', run, 'total')
  if total and index < tonumber(total) then
    redis.call('HINCRBY', run, 'counted', 1)
  end
  -- Accounting. A score is expiry_s * 4 + strategy code. A key warmed again
  -- before anyone read it replaces an unread value: that sample counts unread.
  -- Samples dropped for room count unread if already expired, else leave `sampled`.
  local code = tonumber(ARGV[9])
  local written_at = math.floor(tonumber(ARGV[12]))
  local sampled = 0
  redis.call('HINCRBY', KEYS[6], 'warmed:' .. code, ARGV[10])
  for i = 13 + 2 * n + m, #ARGV, 2 do
    local old = redis.call('ZSCORE', KEYS[5], ARGV[i])
    if old then
      redis.call('HINCRBY', KEYS[6], 'expired:' .. (tonumber(old) % 4), 1)
    end
    local score = (written_at + tonumber(ARGV[i + 1])) * 4 + code
    redis.call('ZADD', KEYS[5], string.format('%.0f', score), ARGV[i])
    sampled = sampled + 1
  end
  redis.call('HINCRBY', KEYS[6], 'sampled:' .. code, sampled)
  local excess = redis.call('ZCARD', KEYS[5]) - tonumber(ARGV[11])
  if excess > 0 then
    local now = math.floor(tonumber(ARGV[6]))
    local dropped = redis.call('ZPOPMIN', KEYS[5], excess)
    for i = 2, #dropped, 2 do
      local score = tonumber(dropped[i])
      local kind = score % 4
      if (score - kind) / 4 < now then
        redis.call('HINCRBY', KEYS[6], 'expired:' .. kind, 1)
      else
        redis.call('HINCRBY', KEYS[6], 'sampled:' .. kind, -1)
      end
    end
  end
end
if ARGV[2] ~= '' and redis.call('GET', KEYS[4]) == ARGV[2] then
  redis.call('PEXPIRE', KEYS[4], ARGV[3])
end
for i = 1, 3 do
  redis.call('EXPIRE', KEYS[i], ARGV[4])
end
local total = redis.call('HGET', run, 'total')
local counted = tonumber(redis.call('HGET', run, 'counted') or '0')
if total and counted >= tonumber(total) then
  redis.call('HSETNX', run, 'finished_at', ARGV[6])
  return 1
end
return 0
