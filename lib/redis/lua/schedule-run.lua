-- Schedule run: records the task a timer enqueued for a tick. Every running instance reports
-- each tick, possibly late and out of order, so an older tick never overwrites a newer one.
-- KEYS[1] the schedule's run hash (<prefix>tr:<name>): l last tick ms, u its task uuid, n next run
-- ms, r when the schedule was removed (set by a timer.remove in any instance)
-- ARGV[1] tick ms, ARGV[2] task uuid, ARGV[3] next run ms
-- Returns 1 when recorded, 0 when this or a later tick is already recorded, -1 when the schedule
-- is marked removed: nothing is recorded, so the hash keeps only the mark, and the caller stops
-- the schedule. A definition gone with no mark (the start-up cleanup of schedules that look
-- abandoned) stops nothing: the instance that runs it goes on recording.
-- A last tick that is no number (written by hand) counts as none: this tick replaces it.
if redis.call('HEXISTS', KEYS[1], 'r') == 1 then
  return -1
end
local last = tonumber(redis.call('HGET', KEYS[1], 'l')) or -1
if tonumber(ARGV[1]) <= last then
  return 0
end
redis.call('HSET', KEYS[1], 'l', ARGV[1], 'u', ARGV[2], 'n', ARGV[3])
return 1
