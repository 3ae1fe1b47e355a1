-- The 'live' write of write.lua for one key, for a Redis Cluster where a batch's
-- keys live on many slots: write only where the key exists with a TTL.
-- KEYS[1]: the key. ARGV[1]: value, ARGV[2]: ttl_s. Returns 1 written, 0 left alone.
if redis.call('PTTL', KEYS[1]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return 0
