-- The PTTL of every key in KEYS, in order: -2 missing, -1 no expiry, else ms left.
-- Called on a few hundred keys at a time (a refresh's dispatcher probes every hot
-- key, a predictive load its candidates):
-- cheaper for Redis and the client than one PTTL command a key.
-- ARGV[1]: 1 while `warming-tasks listen` runs. Then each key is looked up with
-- OBJECT ENCODING first: Redis does not report that lookup as a key miss (it is
-- LOOKUP_NONOTIFY), while a PTTL of an absent key publishes
-- __keyevent@<db>__:keymiss, which the listener would count as the application's
-- miss. So only keys that exist get their PTTL read (within one script the clock
-- stands still: a key OBJECT finds does not expire before PTTL).
local quiet = ARGV[1] == '1'
local ttls = {}
for i, key in ipairs(KEYS) do
  if not quiet or redis.call('OBJECT', 'ENCODING', key) then
    ttls[i] = redis.call('PTTL', key)
  else
    ttls[i] = -2
  end
end
return ttls
