-- Pause: workers start no task of the whole queue, or of one task, until it is resumed; running
-- tasks go on. A claim while the queue is paused stores its outcomes and claims nothing; a task of
-- a paused name met by a claim joins its waiting line (see includes/waiting-lines.lua), kept out of
-- the reopen schedule until its resume makes it due at once.
-- KEYS[1] wake-up marker list
-- ARGV[1] key prefix, ARGV[2] '1' to pause or '0' to resume, ARGV[3] the task name ('' = the queue)
--@include queue
--@include key-check
local prefix = ARGV[1]
local name = ARGV[3]
-- Checked before the first write: a pause met half-way would answer an error though it holds.
local mistyped = mistypedKeyReply({ { prefix .. 'ps', 'set' }, { prefix .. 'rw', 'zset' }, { KEYS[1], 'list' } })
if mistyped then
  return mistyped
end
if ARGV[2] == '1' then
  redis.call('SADD', prefix .. 'ps', name)
  if name ~= '' then
    redis.call('ZREM', prefix .. 'rw', name)
  end
  return
end
redis.call('SREM', prefix .. 'ps', name)
if name ~= '' and redis.call('EXISTS', prefix .. 'rp:' .. name) == 1 then
  redis.call('ZADD', prefix .. 'rw', 0, name)
end
-- Idle workers sleep on the marker: the next claim starts what was held.
wake(KEYS[1])
