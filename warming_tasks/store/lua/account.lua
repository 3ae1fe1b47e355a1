-- Record the sample of keys one batch warmed, for the accounting of what the
-- application reads before expiry.
-- Packed in this order by Account (store/runs.py).
-- KEYS[1]: warmed-key samples (sorted set), KEYS[2]: accounting counters (hash).
-- ARGV[1]: kind code, ARGV[2]: keys the batch warmed, ARGV[3]: most samples kept,
-- ARGV[4]: when they were written (s), ARGV[5]: now (s), ARGV[6]: slots (a sample
-- scores expiry_s * slots + kind code), ARGV[7]: keys the batch failed, ARGV[8]:
-- keys it left to the application's newer values, ARGV[9]: keys it kept past
-- expiry while the source failed, then key, ttl_s pairs of the sample.
-- A key warmed again before anyone read it replaces an unread value: that sample
-- counts unread. Samples dropped for room count unread if already expired, else
-- leave `sampled`.
local code = tonumber(ARGV[1])
local written_at = math.floor(tonumber(ARGV[4]))
local slots = tonumber(ARGV[6])
local sampled = 0
redis.call('HINCRBY', KEYS[2], 'warmed:' .. code, ARGV[2])
for i, name in ipairs({'failed', 'superseded', 'kept_stale'}) do
  if tonumber(ARGV[6 + i]) > 0 then
    redis.call('HINCRBY', KEYS[2], name .. ':' .. code, ARGV[6 + i])
  end
end
for i = 10, #ARGV, 2 do
  local old = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if old then
    redis.call('HINCRBY', KEYS[2], 'expired:' .. (tonumber(old) % slots), 1)
  end
  local score = (written_at + tonumber(ARGV[i + 1])) * slots + code
  redis.call('ZADD', KEYS[1], string.format('%.0f', score), ARGV[i])
  sampled = sampled + 1
end
redis.call('HINCRBY', KEYS[2], 'sampled:' .. code, sampled)
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
if excess > 0 then
  local now = math.floor(tonumber(ARGV[5]))
  local dropped = redis.call('ZPOPMIN', KEYS[1], excess)
  for i = 2, #dropped, 2 do
    local score = tonumber(dropped[i])
    local kind = score % slots
    if (score - kind) / slots < now then
      redis.call('HINCRBY', KEYS[2], 'expired:' .. kind, 1)
    else
      redis.call('HINCRBY', KEYS[2], 'sampled:' .. kind, -1)
    end
  end
end
return sampled
