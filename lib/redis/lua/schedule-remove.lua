-- Schedule remove: deletes a timer's schedule definition and its run state, and marks the
-- schedule removed for the instances still running it (see schedule-run.lua), all or nothing.
-- A MULTI would not do: the definitions hash holding another Redis type refused its HDEL there,
-- while the run state was wiped and marked all the same. So its type is checked first.
-- KEYS[1] the definitions hash (<prefix>tm), KEYS[2] the schedule's run hash (<prefix>tr:<name>),
-- replaced whatever it holds
-- ARGV[1] schedule name, ARGV[2] now ms (the mark's value), ARGV[3] how long the mark lasts, ms
-- Returns 1; a WRONGTYPE error, nothing written, when the definitions key holds another type.
local found = redis.call('TYPE', KEYS[1])['ok']
if found ~= 'none' and found ~= 'hash' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' holds a ' .. found .. ', not a hash')
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'r', ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
