-- Move the candidates' shared epoch forward: scale each sample set KEYS[1 + c] by
-- ARGV[2 + c] and store epoch ARGV[2], only if it is still ARGV[1].
-- KEYS[1]: auto's state (hash, field shadow_epoch). Returns 1 if rebased.
if redis.call('HGET', KEYS[1], 'shadow_epoch') ~= ARGV[1] then
  return 0
end
for c = 2, #KEYS do
  local factor = tonumber(ARGV[1 + c])
  local members = redis.call('ZRANGE', KEYS[c], 0, -1, 'WITHSCORES')
  for i = 1, #members, 2 do
    redis.call('ZADD', KEYS[c], tonumber(members[i + 1]) * factor, members[i])
  end
end
redis.call('HSET', KEYS[1], 'shadow_epoch', ARGV[2])
return 1
