-- Add a flush's reads to the frequency set and keep it bounded; with the
-- half-life on auto, first score each candidate's ranking against the sampled
-- reads, then add those to the candidates' sets; settle the warmed-key samples.
-- Called on a hundred or so members at a time: one call never holds Redis long.
-- Packed in this order by Flush (store/frequency.py).
-- KEYS[1]: frequency set, KEYS[2]: its epoch, KEYS[3]: warmed-key samples,
-- KEYS[4]: accounting counters, KEYS[5]: auto's state (hash), KEYS[6]: a rescale
-- in flight (rescale.lua), KEYS[7..]: the candidates' sample sets.
-- ARGV[1]: the epoch the client holds, ARGV[2]: the half-life it holds, ARGV[3]: score per read for the frequency set,
-- ARGV[4]: most members kept, ARGV[5]: earliest time (s) any of these reads can
-- have happened, ARGV[6]: samples that expired before this time (s) count as
-- unread, ARGV[7]: most of them swept, ARGV[8]: slots (a sample scores
-- expiry_s * slots + kind code), ARGV[9]: candidates (0: a fixed half-life),
-- ARGV[10]: the candidates' epoch the client holds, ARGV[11]: the sample rank that
-- stands for the top N of WARMING_PREDICTIVE_LIMIT (the last predictive load's N,
-- in auto's state as warm_top, comes first), ARGV[12]: now (s), ARGV[13]: the evidence's half-life (s),
-- ARGV[14]: most members of a sample set, ARGV[15]: member/reads pairs that follow,
-- then one score per read per candidate, the seconds between snapshots of the
-- candidates' sets (0: none), the pairs, and the 1-based numbers of the pairs
-- whose member is sampled. With candidates, KEYS[7 + candidates..] are the
-- snapshots.
-- Returns {1} when applied (auto: {1, since, born, reads, snapshot due (1: the
-- caller copies the candidates' sets to their snapshots), hits per candidate}),
-- {0, epoch, half-life, candidates' epoch} when the client's differ (it recomputes
-- and tries again), or {2} while a rescale is in flight (the caller helps it on).
if redis.call('EXISTS', KEYS[6]) == 1 then
  return {2}
end
local candidates = tonumber(ARGV[9])
local stored = redis.call('GET', KEYS[2])
local state = redis.call('HMGET', KEYS[5], 'h', 'shadow_epoch')
local held_h, held_shadow = state[1], state[2]
if candidates == 0 then
  held_shadow = nil -- a fixed half-life has no candidates to agree on
end
if not stored then
  held_h = nil -- no scores stand behind it: the client's half-life starts them
end
if (stored and stored ~= ARGV[1]) or (held_h and tonumber(held_h) ~= tonumber(ARGV[2]))
    or (held_shadow and held_shadow ~= ARGV[10]) then
  -- The candidates' epoch as stored, even to a call that sends no candidates: the
  -- caller adopts the whole reply, and must not forget the epoch its sampled calls need.
  return {0, stored or ARGV[1], held_h or ARGV[2], state[2] or ARGV[10]}
end
if not stored then
  redis.call('SET', KEYS[2], ARGV[1])
end
-- The half-life the scores are weighted with is stored in every mode, so a
-- process with another one converts them instead of mixing weights.
if not held_h then
  redis.call('HSET', KEYS[5], 'h', ARGV[2], 'since', ARGV[12])
end
if candidates > 0 and not held_shadow then
  redis.call('HSET', KEYS[5], 'shadow_epoch', ARGV[10], 'born', ARGV[12])
end
local pairs_at = 17 + candidates
-- Members trimmed per call at most: a bound lowered a lot is reached over calls.
local trim_most = 512
local every = tonumber(ARGV[16 + candidates])
local npairs = tonumber(ARGV[15])
local per_read = tonumber(ARGV[3])
local since = tonumber(ARGV[5])
local slots = tonumber(ARGV[8])
local tracked = redis.call('EXISTS', KEYS[3]) == 1
local members = {}
local last = pairs_at + 2 * npairs - 1
for i = pairs_at, last, 2 do
  redis.call('ZINCRBY', KEYS[1], tonumber(ARGV[i + 1]) * per_read, ARGV[i])
  if tracked then
    members[#members + 1] = ARGV[i]
  end
end
local result = {1}
if candidates > 0 then
  -- Tuned for the warm set that is read: the last predictive load's, else the setting's.
  local top = tonumber(redis.call('HGET', KEYS[5], 'warm_top') or ARGV[11])
  local hits, reads = {}, 0
  for c = 1, candidates do hits[c] = 0 end
  -- Every sampled read is ranked before any of them is added: the ranking
  -- judged is the one the reads found.
  -- Each candidate is judged by its ranking as of its last snapshot (taken every
  -- ARGV[16 + candidates] s), so the reads judge a warm set some minutes old, as
  -- a predictive load's is while it serves; before the first, by the live one.
  local judged = {}
  for c = 1, candidates do
    local snapshot = KEYS[6 + candidates + c]
    judged[c] = (every > 0 and redis.call('EXISTS', snapshot) == 1) and snapshot or KEYS[6 + c]
  end
  for i = last + 1, #ARGV do
    local at = pairs_at + 2 * (tonumber(ARGV[i]) - 1)
    local member, n = ARGV[at], tonumber(ARGV[at + 1])
    reads = reads + n
    for c = 1, candidates do
      local rank = redis.call('ZREVRANK', judged[c], member)
      if rank and rank < top then hits[c] = hits[c] + n end
    end
  end
  for i = last + 1, #ARGV do
    local at = pairs_at + 2 * (tonumber(ARGV[i]) - 1)
    local member, n = ARGV[at], tonumber(ARGV[at + 1])
    for c = 1, candidates do
      redis.call('ZINCRBY', KEYS[6 + c], n * tonumber(ARGV[15 + c]), member)
    end
  end
  local excess_of = tonumber(ARGV[14])
  for c = 1, candidates do
    local excess = math.min(redis.call('ZCARD', KEYS[6 + c]) - excess_of, trim_most)
    if excess > 0 then
      redis.call('ZREMRANGEBYRANK', KEYS[6 + c], 0, excess - 1)
    end
  end
  -- The evidence decays with time, so a change of regime wins within an hour or so.
  local fields = {'eval_at', 'reads', 'since', 'born', 'snapshot_at'}
  for c = 1, candidates do fields[#fields + 1] = 'hits:' .. c end
  local state = redis.call('HMGET', KEYS[5], unpack(fields))
  local now = tonumber(ARGV[12])
  local eval_at = tonumber(state[1]) or now
  local keep = 1
  if now > eval_at then
    keep = math.pow(2, -(now - eval_at) / tonumber(ARGV[13]))
  end
  local total = (tonumber(state[2]) or 0) * keep + reads
  local update = {'eval_at', string.format('%.17g', math.max(now, eval_at)),
                  'reads', string.format('%.17g', total)}
  local snapshot_due = every > 0 and now - (tonumber(state[5]) or -math.huge) >= every
  result = {1, state[3] or ARGV[12], state[4] or ARGV[12], string.format('%.17g', total),
            snapshot_due and 1 or 0}
  if snapshot_due then
    -- Claimed here, copied by the caller a few hundred members per command.
    update[#update + 1] = 'snapshot_at'
    update[#update + 1] = ARGV[12]
  end
  for c = 1, candidates do
    local h = (tonumber(state[5 + c]) or 0) * keep + hits[c]
    local text = string.format('%.17g', h)
    update[#update + 1] = 'hits:' .. c
    update[#update + 1] = text
    result[#result + 1] = text
  end
  redis.call('HSET', KEYS[5], unpack(update))
end
-- One ZMSCORE per few hundred members: a call per member would double the flush.
local step = 500
for first = 1, #members, step do
  local upto = math.min(first + step - 1, #members)
  local scores = redis.call('ZMSCORE', KEYS[3], unpack(members, first, upto))
  for j, score in ipairs(scores) do
    if score then
      score = tonumber(score)
      local kind = score % slots
      local outcome = (score - kind) / slots >= since and 'read:' or 'expired:'
      redis.call('HINCRBY', KEYS[4], outcome .. kind, 1)
      redis.call('ZREM', KEYS[3], members[first + j - 1])
    end
  end
end
local excess = math.min(redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[4]), trim_most)
if excess > 0 then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, excess - 1)
end
if tracked then
  local before = string.format('%.0f', math.floor(tonumber(ARGV[6])) * slots)
  local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. before, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[7]))
  for i = 1, #gone, 2 do
    redis.call('HINCRBY', KEYS[4], 'expired:' .. (tonumber(gone[i + 1]) % slots), 1)
    redis.call('ZREM', KEYS[3], gone[i])
  end
end
return result
