-- Claim the keys a warm request asked for. KEYS: each key's pending marker (the id
-- of the latest request that asked for it); ARGV[1]: this request's id. For each
-- key: 1 to load it (this request is the latest: its marker is removed; or no
-- marker is left, so nothing says a later request will), 0 when a later request
-- asked for it and will load it (this one is coalesced into that one).
local claimed = {}
for i, marker in ipairs(KEYS) do
  local latest = redis.call('GET', marker)
  if latest == ARGV[1] then
    redis.call('DEL', marker)
    claimed[i] = 1
  elseif latest then
    claimed[i] = 0
  else
    claimed[i] = 1
  end
end
return claimed
