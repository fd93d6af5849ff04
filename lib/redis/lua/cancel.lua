-- Cancel: a task that has not started turns 'cancel', leaves its queue and will never run (should
-- a claim meet it all the same, it drops it). For a running task the reason is recorded and published on the app's
-- cancel channel, so the worker holding it aborts it and stores 'cancel' itself (an outcome stored
-- first drops the reason, see includes/outcomes.lua). A finished task is left as it is.
-- KEYS[1] delayed zset, KEYS[2] priorities zset
-- ARGV[1] key prefix, ARGV[2] uuid, ARGV[3] reason, ARGV[4..6] retention (see readRetention)
-- Returns the record after the call, or false when there is no such task; one that is no task
-- record is refused, unchanged (see includes/record-check.lua).
--@include time
--@include finish
--@include record-check
--@include key-check

-- Takes a task out of its name's waiting line (see includes/waiting-lines.lua), if it waits there.
local function leaveWaitingLine(prefix, name, uuid)
  local lineKey = prefix .. 'rp:' .. name
  if redis.call('LREM', lineKey, 1, uuid) == 1 and redis.call('EXISTS', lineKey) == 0 then
    redis.call('ZREM', prefix .. 'rw', name)
  end
end

local prefix = ARGV[1]
local uuid = ARGV[2]
local raw, refusal = readRecordToChange(prefix, uuid)
if refusal then
  return refusal
elseif not raw then
  return false
end
local rec = decodeRecord(raw)
if rec.s == 'process' and rec.x == nil then
  rec.x = ARGV[3]
  raw = encodeRecord(rec)
  redis.call('SET', prefix .. 't:' .. uuid, raw)
  redis.call('PUBLISH', prefix .. 'cancel', uuid)
end
if rec.s ~= 'new' then
  return raw
end
local priority = rec.p or 0
local listKey = prefix .. 'q:' .. priority
-- Checked before the first write: a key of another type met half-way would leave the task in no queue.
local mistyped = mistypedKeyReply({
  { KEYS[1], 'zset' }, { listKey, 'list' }, { KEYS[2], 'zset' },
  { prefix .. 'rp:' .. rec.n, 'list' }, { prefix .. 'rw', 'zset' }, { prefix .. 'f:cancel', 'zset' },
})
if mistyped then
  return mistyped
end
local now = nowMs()
local notices = newNotices()
rec.s = 'cancel'
rec.x = ARGV[3]
rec.u = now
rec.f = now
redis.call('ZREM', KEYS[1], uuid)
-- Out of its queue now, so queue lengths (the dashboard's, the CLI's) count only what will run.
-- LREM walks the list from its head: cheap for the tasks next in line, linear at worst, and a
-- cancel is rare next to the adds and claims that keep the queue a plain list.
if redis.call('LREM', listKey, 1, uuid) == 1 then
  if redis.call('LLEN', listKey) == 0 then
    redis.call('ZREM', KEYS[2], priority)
  end
else
  -- Held in its waiting line (a full rate-limit window, every running slot held, or a pause), or
  -- not queued at all.
  leaveWaitingLine(prefix, rec.n, uuid)
end
raw = finish(prefix, uuid, rec, readRetention(4), notices)
notify(prefix, notices)
return raw
