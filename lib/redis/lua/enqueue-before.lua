-- Enqueue before: enqueue.lua for an add that must not land after a deadline (a timer's tick,
-- whose unique key may have expired by then after another instance enqueued it). The deadline is
-- checked here, by Redis's clock as the call runs, so an add the client sends again after a
-- reconnect is refused once too late, however long it was held.
-- KEYS and ARGV as enqueue.lua's (one task), then ARGV[#ARGV] the deadline, Unix ms.
-- Returns false (nothing stored) past the deadline, else as enqueue.lua.
--@include time
local deadline = tonumber(ARGV[#ARGV])
-- The body reads its tasks up to the last ARGV.
ARGV[#ARGV] = nil
-- Past it, unless this very call ran before and its reply was lost (its task's record is there):
-- that task is stored, so the call answers as enqueue.lua does then, storing nothing again.
if nowMs() > deadline and redis.call('EXISTS', ARGV[1] .. 't:' .. string.match(ARGV[2], '^%S+')) == 0 then
  return false
end
--@include enqueue-tasks
