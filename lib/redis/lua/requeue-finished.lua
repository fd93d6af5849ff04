-- Requeue: a task that ended 'error' or 'cancel' goes back to the tail of its queue as 'new',
-- under the same uuid, to run again with its full retries: the way back for a failed task once
-- its cause is fixed. Its tracebacks stay in h; the finished index and a result TTL no longer
-- apply to it. A task in any other status is left as it is.
-- KEYS[1] priorities zset, KEYS[2] wake-up marker list
-- ARGV[1] key prefix, ARGV[2] uuid
-- Returns { 1 when it was requeued else 0, the record after the call }, or false when there is
-- no such task; one that is no task record is refused, unchanged (see includes/record-check.lua).
--@include time
--@include record-check
--@include queue
--@include key-check
local prefix = ARGV[1]
local uuid = ARGV[2]
local key = prefix .. 't:' .. uuid
local raw, refusal = readRecordToChange(prefix, uuid)
if refusal then
  return refusal
elseif not raw then
  return false
end
local rec = decodeRecord(raw)
if rec.s ~= 'error' and rec.s ~= 'cancel' then
  return { 0, raw }
end
local finishedAs = rec.s
-- Checked before the first write: a key of another type met half-way would leave the task 'new' in no queue.
local mistyped = mistypedKeyReply({
  { prefix .. 'f:' .. finishedAs, 'zset' }, { prefix .. 'q:' .. (rec.p or 0), 'list' }, { KEYS[1], 'zset' }, { KEYS[2], 'list' },
})
if mistyped then
  return mistyped
end
-- A task that was retried has every traceback in h already, its last one included.
if rec.e ~= nil and rec.h == nil then
  rec.h = { rec.e }
end
rec.s = 'new'
rec.u = nowMs()
-- Attempt 1 and no stalls again (the defaults a record leaves out): the retries start afresh.
rec.t, rec.l = nil, nil
rec.b, rec.f, rec.r, rec.e, rec.x, rec.w, rec.g, rec.d = nil, nil, nil, nil, nil, nil, nil, nil
raw = encodeRecord(rec)
-- A plain SET also drops the TTL a result was kept for.
redis.call('SET', key, raw)
-- Out of its status's index and total (<prefix>st): it has not ended so any more. The total also
-- keeps the index trusted (see the inspector): the newest entry's score stays at least the total.
redis.call('ZREM', prefix .. 'f:' .. finishedAs, uuid)
-- By pcall: a total that cannot be counted (see notify in includes/finish.lua) must not stop the
-- script before the task is queued, leaving it 'new' in no queue.
redis.pcall('HINCRBY', prefix .. 'st', finishedAs, -1)
pushQueued(prefix, KEYS[1], rec.p, uuid, false)
wake(KEYS[2])
return { 1, raw }
