-- Record how many batches a run has, once dispatch has sent them all.
-- KEYS[1]: run hash, KEYS[2]: set of finished batch indexes. ARGV[1]: batch count.
-- Returns 1 when every batch had already finished (the dispatcher closes the run).
redis.call('HSET', KEYS[1], 'total', ARGV[1], 'dispatched', ARGV[1])
if redis.call('SCARD', KEYS[2]) == tonumber(ARGV[1]) then
  return 1
end
return 0
