-- Record how many batches a run has, once dispatch has sent them all.
-- The run hash's fields are named in warming_tasks/records.py (Meta, Count, BodyBy).
-- KEYS[1]: run hash, KEYS[2]: finished batch indexes (sorted set, scored by index:
-- counting those below the total is one O(log n) command at any batch count).
-- ARGV[1]: batch count, ARGV[2]: now (s).
-- The first complete dispatch fixes the total; batches finished before it that
-- fall inside it are counted now, later ones as they finish.
-- Returns 1 when every batch had already finished (the dispatcher closes the run).
local run = KEYS[1]
if redis.call('HSETNX', run, 'total', ARGV[1]) == 1 then
  local counted = redis.call('ZCOUNT', KEYS[2], 0, '(' .. ARGV[1])
  redis.call('HSET', run, 'counted', counted, 'dispatched', ARGV[1], 'dispatched_at', ARGV[2])
end
local total = tonumber(redis.call('HGET', run, 'total'))
if tonumber(redis.call('HGET', run, 'counted') or '0') >= total then
  redis.call('HSETNX', run, 'finished_at', ARGV[2])
  -- Every batch finished first: the dispatcher's own result is the run's body.
  redis.call('HSETNX', run, 'body_by', 'dispatch')
  return redis.call('HGET', run, 'body_by') == 'dispatch' and 1 or 0
end
return 0
