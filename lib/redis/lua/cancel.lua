-- Cancel: a task that has not started turns 'cancel' and will never run (the claim script drops
-- it from the queue). For a running task the reason is recorded and published on the app's
-- cancel channel, so the worker holding it aborts it and stores 'cancel' itself. A finished task
-- is left as it is.
-- KEYS[1] delayed zset
-- ARGV[1] key prefix, ARGV[2] uuid, ARGV[3] reason, ARGV[4..6] retention (see readRetention)
-- Returns the record after the call, or false when there is no such task.
--@include time
--@include finish
local prefix = ARGV[1]
local uuid = ARGV[2]
local raw = redis.call('GET', prefix .. 't:' .. uuid)
if not raw then
  return false
end
local rec = decodeRecord(raw)
if rec ~= nil and rec.s == 'process' and rec.x == nil then
  rec.x = ARGV[3]
  raw = encodeRecord(rec)
  redis.call('SET', prefix .. 't:' .. uuid, raw)
  redis.call('PUBLISH', prefix .. 'cancel', uuid)
end
if rec == nil or rec.s ~= 'new' then
  return raw
end
local now = nowMs()
local notices = newNotices()
rec.s = 'cancel'
rec.x = ARGV[3]
rec.u = now
rec.f = now
redis.call('ZREM', KEYS[1], uuid)
raw = finish(prefix, uuid, rec, readRetention(4), notices)
notify(prefix, notices)
return raw
