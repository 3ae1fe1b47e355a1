-- Cancel a run that has not finished: its remaining batches stand down.
-- The run hash's fields are named in warming_tasks/records.py (Meta, Count, BodyBy).
-- KEYS[1]: run hash. ARGV[1]: now (s).
-- Returns 'cancelled', 'already cancelled', 'finished' or 'unknown'.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 'unknown'
end
if redis.call('HEXISTS', KEYS[1], 'finished_at') == 1 then
  return 'finished'
end
if redis.call('HSETNX', KEYS[1], 'cancel', ARGV[1]) == 0 then
  return 'already cancelled'
end
return 'cancelled'
