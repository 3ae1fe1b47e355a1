-- Add forward-decayed access weights to the frequency set and keep it bounded.
-- KEYS[1]: frequency sorted set, KEYS[2]: decay epoch.
-- ARGV[1]: the epoch the weights were computed against, ARGV[2]: most members kept,
-- then member, weight pairs.
-- Returns {1} when applied, or {0, epoch} when the stored epoch differs (the
-- caller recomputes its weights against it and tries again).
local stored = redis.call('GET', KEYS[2])
if stored and stored ~= ARGV[1] then
  return {0, stored}
end
if not stored then
  redis.call('SET', KEYS[2], ARGV[1])
end
for i = 3, #ARGV, 2 do
  redis.call('ZINCRBY', KEYS[1], ARGV[i + 1], ARGV[i])
end
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[2])
if excess > 0 then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, excess - 1)
end
return {1}
