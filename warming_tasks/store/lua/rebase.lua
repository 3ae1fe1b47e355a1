-- Move the decay epoch forward: scale every score by ARGV[3] and store epoch ARGV[2],
-- only if the epoch is still ARGV[1] (another process may have rebased first).
-- With KEYS[3] (auto's state), the same move changes the half-life: only if it is
-- still ARGV[4], it becomes ARGV[5], adopted at time ARGV[6].
-- KEYS[1]: frequency sorted set, KEYS[2]: decay epoch. Returns 1 if rebased.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return 0
end
if KEYS[3] and tonumber(redis.call('HGET', KEYS[3], 'h')) ~= tonumber(ARGV[4]) then
  return 0
end
local factor = tonumber(ARGV[3])
local members = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #members, 2 do
  redis.call('ZADD', KEYS[1], tonumber(members[i + 1]) * factor, members[i])
end
redis.call('SET', KEYS[2], ARGV[2])
if KEYS[3] and tonumber(ARGV[5]) ~= tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[3], 'h', ARGV[5], 'since', ARGV[6])
end
return 1
