-- Recover: tasks whose batch lease deadline passed (their worker died or froze) go back to the
-- head of their queue (or of their waiting line, see includes/requeue.lua), still counted against
-- their rate limit, their running slots freed (see includes/running-slots.lua); a task that
-- stalled more than ARGV[2] times ends 'error' instead of looping forever, and one whose cancel
-- was asked for ends 'cancel'.
-- (Both count as 'failed' in the reply: they will not run again.) Tasks of the batch that were
-- finished, or claimed again by another batch since, carry no token of it and are left alone.
-- A safety net for a lost wake-up rides along: when a delayed task or a waiting line is due and no
-- wake-up is pending, it wakes an idle worker (the one that alone knew the time may have died
-- asleep). Every live worker recovers every leaseMs / 2, so such a task starts that late at most,
-- not after the other workers' idle block (30 s).
-- A record that is no task record (malformed text, or a key holding another Redis type) counts as
-- failed and is named in the reply, and the rest of the batches are recovered all the same.
-- KEYS[1] active zset, KEYS[2] priorities zset, KEYS[3] wake-up marker list, KEYS[4] delayed zset
-- ARGV[1] key prefix, ARGV[2] max stalls, ARGV[3..5] retention (see readRetention)
-- Returns { requeued, failed, { uuid, why, ... of the records that were no task records } }.
--@include time
--@include finish
--@include leases
--@include requeue
--@include running-slots
--@include waiting-lines
local prefix = ARGV[1]
local now = nowMs()
local retention = readRetention(3)
local maxStalls = tonumber(ARGV[2])
local notices = newNotices()
local requeued, failed = 0, 0
local slotFreed = false
local malformed = {}

local function recoverTask(uuid, batch)
  local rec, why = loadRecord(prefix, uuid, now, retention, notices)
  -- The lease ends, and the running slot it took with it (whatever became of the record).
  slotFreed = freeRunningSlot(prefix, uuid, batch) or slotFreed
  if why then
    failed = failed + 1
    malformed[#malformed + 1] = uuid
    malformed[#malformed + 1] = why
  elseif rec and rec.s == 'process' and rec.k and batchOf(rec.k) == batch then
    rec.l = (rec.l or 0) + 1
    if rec.x == nil and rec.l > maxStalls then
      rec.k = nil
      rec.u = now
      rec.s = 'error'
      rec.f = now
      rec.e = 'StalledError: the worker running this task stopped answering ' .. rec.l ..
        ' times (more than maxStalls = ' .. maxStalls .. '); it is not run again'
      -- A retried task keeps every attempt's traceback in h, its last one too (as outcomes.lua).
      if rec.h then
        rec.h[#rec.h + 1] = rec.e
      end
      finish(prefix, uuid, rec, retention, notices)
      failed = failed + 1
    elseif giveBack(prefix, KEYS[2], uuid, rec, now, retention, notices) then
      requeued = requeued + 1
    else
      -- Its cancel was asked for while its worker was gone: it ended 'cancel', not run again.
      failed = failed + 1
    end
  end
end

-- Each task goes to the head of its queue: walked last-first (newest batch first, its last task
-- first), the tasks end up in the order they were claimed, ahead of the rest.
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 100)
for b = #expired, 1, -1 do
  local uuids = redis.call('LRANGE', prefix .. 'lb:' .. expired[b], 0, -1)
  for i = #uuids, 1, -1 do
    recoverTask(uuids[i], expired[b])
  end
end
dropBatches(prefix, KEYS[1], expired)
if requeued > 0 or slotFreed or nextDueIn(prefix, KEYS[4], now) == 0 then
  wake(KEYS[3])
end
notify(prefix, notices)
return { requeued, failed, malformed }
