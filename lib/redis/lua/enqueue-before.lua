-- Enqueue before: enqueue.lua for an add that must not land after a deadline (a timer's tick,
-- whose unique key may have expired by then after another instance enqueued it). The deadline is
-- checked here, by Redis's clock as the call runs, so an add the client sends again after a
-- reconnect is refused once too late, however long it was held.
-- KEYS and ARGV as enqueue.lua's, then ARGV[#ARGV] the deadline, Unix ms.
-- Returns false (nothing stored) past the deadline, else as enqueue.lua.
--@include time
if nowMs() > tonumber(ARGV[#ARGV]) then
  return false
end
-- The body reads its tasks up to the last ARGV.
ARGV[#ARGV] = nil
--@include enqueue-tasks
