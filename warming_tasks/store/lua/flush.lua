-- Add forward-decayed access weights to the frequency set and keep it bounded;
-- settle the warmed-key samples the application read.
-- KEYS[1]: frequency sorted set, KEYS[2]: decay epoch, KEYS[3]: warmed-key samples,
-- KEYS[4]: accounting counters.
-- ARGV[1]: the epoch the weights were computed against, ARGV[2]: most members kept,
-- ARGV[3]: earliest time (s) any of these reads can have happened, ARGV[4]: samples
-- that expired before this time (s) count as unread, ARGV[5]: most of them swept,
-- ARGV[6]: slots (a sample scores expiry_s * slots + kind code), then member, weight pairs.
-- Returns {1} when applied, or {0, epoch} when the stored epoch differs (the
-- caller recomputes its weights against it and tries again).
local stored = redis.call('GET', KEYS[2])
if stored and stored ~= ARGV[1] then
  return {0, stored}
end
if not stored then
  redis.call('SET', KEYS[2], ARGV[1])
end
-- A sample is read in time if it expires after the earliest moment this flush's
-- reads can date from.
local since = tonumber(ARGV[3])
local slots = tonumber(ARGV[6])
local tracked = redis.call('EXISTS', KEYS[3]) == 1
local members = {}
for i = 7, #ARGV, 2 do
  redis.call('ZINCRBY', KEYS[1], ARGV[i + 1], ARGV[i])
  if tracked then
    members[#members + 1] = ARGV[i]
  end
end
-- One ZMSCORE per few hundred members: a call per member would double the flush.
local step = 500
for first = 1, #members, step do
  local last = math.min(first + step - 1, #members)
  local scores = redis.call('ZMSCORE', KEYS[3], unpack(members, first, last))
  for j, score in ipairs(scores) do
    if score then
      score = tonumber(score)
      local kind = score % slots
      local outcome = (score - kind) / slots >= since and 'read:' or 'expired:'
      redis.call('HINCRBY', KEYS[4], outcome .. kind, 1)
      redis.call('ZREM', KEYS[3], members[first + j - 1])
    end
  end
end
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[2])
if excess > 0 then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, excess - 1)
end
if tracked then
  local before = string.format('%.0f', math.floor(tonumber(ARGV[4])) * slots)
  local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. before, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[5]))
  for i = 1, #gone, 2 do
    redis.call('HINCRBY', KEYS[4], 'expired:' .. (tonumber(gone[i + 1]) % slots), 1)
    redis.call('ZREM', KEYS[3], gone[i])
  end
end
return {1}
