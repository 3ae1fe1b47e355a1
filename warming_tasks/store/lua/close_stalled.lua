-- Close a run that made no progress for too long: the batches sent that never
-- reported count as `lost`, and the run is stamped finished, so a batch that
-- reports later is counted nowhere (run_count.lua) and stands down.
-- The run hash's fields are named in warming_tasks/records.py (Meta, Count, BodyBy).
-- KEYS[1]: run hash, KEYS[2]: finished batch indexes (sorted set), KEYS[3]: open runs.
-- ARGV[1]: run id, ARGV[2]: now (s), ARGV[3]: stalled since (s, the last progress
-- must be older).
-- Returns 1 when this call closed the run and the caller must send its body.
local run = KEYS[1]
local progress = redis.call('ZSCORE', KEYS[3], ARGV[1])
if redis.call('HEXISTS', run, 'finished_at') == 1 or redis.call('EXISTS', run) == 0 then
  redis.call('ZREM', KEYS[3], ARGV[1])
  return 0
end
if progress and tonumber(progress) >= tonumber(ARGV[3]) then
  return 0  -- a batch reported since the caller looked
end
local sent = tonumber(redis.call('HGET', run, 'total') or redis.call('HGET', run, 'dispatched') or '0')
local lost = sent - redis.call('ZCARD', KEYS[2])
redis.call('HSET', run, 'lost', math.max(lost, 0), 'stalled', ARGV[2], 'finished_at', ARGV[2])
redis.call('HSETNX', run, 'body_by', 'stall')
return 1
