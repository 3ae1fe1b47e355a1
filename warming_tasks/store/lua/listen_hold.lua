-- Take or keep the listener's heartbeat KEYS[1] for token ARGV[1], for ARGV[2] ms:
-- free, expired or already this token's. Returns {the holder's token, 1 if this call
-- took the key (it was free) else 0}: a listener that takes it anew waits before it
-- listens, until every process that warms has seen it (see CacheCommands.listening).
-- The free key is taken with SET ... NX, a write: Redis neither counts a miss nor
-- publishes one for it (a GET, or SET ... GET, of the free key would), so a
-- listener standing by adds nothing to the misses the next one estimates lost. A
-- key SET NX found is still there for the GET: a script's clock stands still.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {ARGV[1], 1}
end
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return {holder, 0}
