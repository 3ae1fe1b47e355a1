-- Keep the lock KEYS[1] for token ARGV[1] another ARGV[2] ms. A lock that expired
-- is taken back (the run is still going); one held by another token is not.
-- Returns 1 if token ARGV[1] holds the lock now.
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
