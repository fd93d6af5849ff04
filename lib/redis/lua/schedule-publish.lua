-- Schedule publish: stores a timer's schedule definition and when it runs next, all or nothing.
-- A MULTI would not do: a command refused there (a key holding another Redis type) leaves the
-- others' writes in place. So every key's type is checked before anything is written.
-- KEYS[1] the definitions hash (<prefix>tm), KEYS[2] the schedule's run hash (<prefix>tr:<name>)
-- ARGV[1] schedule name, ARGV[2] definition JSON, ARGV[3] next run ms
-- Returns 1; a WRONGTYPE error, nothing written, when a key holds another type.
for _, key in ipairs(KEYS) do
  local found = redis.call('TYPE', key)['ok']
  if found ~= 'none' and found ~= 'hash' then
    return redis.error_reply('WRONGTYPE ' .. key .. ' holds a ' .. found .. ', not a hash')
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
-- Published again after a removal: its ticks enqueue again, and its run state is kept.
redis.call('HDEL', KEYS[2], 'r')
redis.call('PERSIST', KEYS[2])
redis.call('HSET', KEYS[2], 'n', ARGV[3])
return 1
