-- One step of moving forward-decayed scores to a new epoch: scale the next few
-- hundred members of a set by the set's factor, and when the last set is done,
-- store the new epoch (and, with the half-life on auto, the new half-life).
-- A rescale of 100,000 members in one call would hold Redis for ~200 ms; in steps,
-- every other client is served between them. Scaling by a factor <= 1 (the epoch
-- only moves forward; a factor above 1 is refused) keeps the order, so the members not yet scaled stay above those scaled: rank windows
-- walked from the bottom stay true, and the top of the ranking reads right
-- throughout. The tracker's flushes wait (flush.lua sees the job) and help.
-- Packed in this order by Rescale (store/frequency.py).
-- KEYS[1]: the job (hash), KEYS[2]: the frequency set's epoch, KEYS[3]: auto's
-- state (hash), KEYS[4..]: the sets to scale (the frequency set, or the
-- candidates' sample sets).
-- ARGV[1]: 'freq' or 'samples', ARGV[2]: members per step, ARGV[3]: the epoch the
-- caller holds, ARGV[4]: the new epoch, ARGV[5]: now (s), ARGV[6]: the half-life
-- held ('' for none), ARGV[7]: the half-life wanted, ARGV[8..]: a factor per set.
-- Returns 0: not started (the epoch moved: the caller reads it again), 1: a step
-- done, more to come, 2: finished, -1: a job of the other mode is in flight.
local job = KEYS[1]
local mode = redis.call('HGET', job, 'mode')
if mode and mode ~= ARGV[1] then
  return -1
end
if not mode then
  local held
  if ARGV[1] == 'freq' then
    held = redis.call('GET', KEYS[2])
    if ARGV[6] ~= '' and tonumber(redis.call('HGET', KEYS[3], 'h')) ~= tonumber(ARGV[6]) then
      return 0
    end
  else
    held = redis.call('HGET', KEYS[3], 'shadow_epoch')
  end
  if held ~= ARGV[3] then
    return 0
  end
  local fields = {'mode', ARGV[1], 'to', ARGV[4], 'at', ARGV[5], 'h', ARGV[7], 'held_h', ARGV[6],
                  'set', 1, 'done', 0}
  for s = 8, #ARGV do
    if tonumber(ARGV[s]) > 1 then
      return redis.error_reply('a rescale factor must be at most 1, got ' .. ARGV[s])
    end
    fields[#fields + 1] = 'factor:' .. (s - 7)
    fields[#fields + 1] = ARGV[s]
  end
  redis.call('HSET', job, unpack(fields))
end
local state = redis.call('HMGET', job, 'set', 'done', 'to', 'at', 'h', 'held_h')
local s, done = tonumber(state[1]), tonumber(state[2])
local step = tonumber(ARGV[2])
local sets = #KEYS - 3
if s <= sets then
  local key = KEYS[3 + s]
  local factor = tonumber(redis.call('HGET', job, 'factor:' .. s))
  local members = redis.call('ZRANGE', key, done, done + step - 1, 'WITHSCORES')
  local scaled = {}
  for i = 1, #members, 2 do
    scaled[#scaled + 1] = tonumber(members[i + 1]) * factor
    scaled[#scaled + 1] = members[i]
  end
  if #scaled > 0 then
    redis.call('ZADD', key, 'XX', unpack(scaled))
  end
  if #members / 2 < step then
    s, done = s + 1, 0
  else
    done = done + step
  end
  redis.call('HSET', job, 'set', s, 'done', done)
  if s <= sets then
    return 1
  end
end
if ARGV[1] == 'freq' then
  redis.call('SET', KEYS[2], state[3])
  if state[6] ~= '' and tonumber(state[5]) ~= tonumber(state[6]) then
    redis.call('HSET', KEYS[3], 'h', state[5], 'since', state[4])
  end
else
  redis.call('HSET', KEYS[3], 'shadow_epoch', state[3])
end
redis.call('DEL', job)
return 2
