-- Count one finished batch into its run, once, however often the batch ran.
-- The run hash's fields are named in warming_tasks/records.py (Meta, Count, BodyBy).
-- Packed in this order by RunCount (store/runs.py).
-- KEYS[1]: run hash, KEYS[2]: finished batch indexes (sorted set, scored by index), KEYS[3]: error sample
-- list, KEYS[4]: the refresh lock, KEYS[5]: open runs by last progress.
-- ARGV[1]: batch index, ARGV[2]: lock token ('' for none), ARGV[3]: lock ttl ms,
-- ARGV[4]: run record ttl s, ARGV[5]: error sample length, ARGV[6]: now (s),
-- ARGV[7]: run id, ARGV[8]: number of counts n, then n name, value pairs, then
-- the error entries.
-- Returns {complete, first}: complete is 1 when every batch below the run's total
-- has finished and this batch is the one to send the run's body (the run is
-- stamped finished_at once, so every summary built from it is the same); first
-- is 1 when this call counted the batch.
local run = KEYS[1]
local index = tonumber(ARGV[1])
local n = tonumber(ARGV[8])
local finished = redis.call('HEXISTS', run, 'finished_at') == 1
local first = redis.call('ZADD', KEYS[2], 'NX', ARGV[1], ARGV[1]) == 1 and not finished
if first then
  redis.call('ZADD', KEYS[5], 'XX', ARGV[6], ARGV[7])
  for i = 9, 8 + 2 * n, 2 do
    redis.call('HINCRBY', run, ARGV[i], ARGV[i + 1])
  end
  local keep = tonumber(ARGV[5])
  for i = 9 + 2 * n, #ARGV do
    if redis.call('LLEN', KEYS[3]) < keep then
      redis.call('RPUSH', KEYS[3], ARGV[i])
    end
  end
  local total = redis.call('HGET', run, 'total')
  if total and index < tonumber(total) then
    redis.call('HINCRBY', run, 'counted', 1)
  end
end
if ARGV[2] ~= '' and redis.call('GET', KEYS[4]) == ARGV[2] then
  redis.call('PEXPIRE', KEYS[4], ARGV[3])
end
for i = 1, 3 do
  redis.call('EXPIRE', KEYS[i], ARGV[4])
end
local complete = 0
local total = redis.call('HGET', run, 'total')
local counted = tonumber(redis.call('HGET', run, 'counted') or '0')
if total and counted >= tonumber(total) then
  redis.call('HSETNX', run, 'finished_at', ARGV[6])
  -- The run's body is sent once: by the batch that completed the run, and again
  -- only by that same batch retrying a send that did not get through.
  redis.call('HSETNX', run, 'body_by', ARGV[1])
  if redis.call('HGET', run, 'body_by') == ARGV[1] and redis.call('HEXISTS', run, 'body_sent') == 0 then
    complete = 1
  end
end
return {complete, first and 1 or 0}
