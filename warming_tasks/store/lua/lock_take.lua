-- Take or keep the lock KEYS[1] for token ARGV[1] for ARGV[2] ms: free, expired or
-- already held by this token (a redelivered run keeps its own lock, a long run
-- takes its lock back after it expired). A lock held by another token is left
-- alone. Returns the holder's token.
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
return holder
