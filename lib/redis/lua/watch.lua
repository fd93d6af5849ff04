-- Watch: marks that a client waits for a task, so finishing scripts publish its completion.
-- Only extends an existing mark, so a short wait never cuts a longer one short.
-- KEYS[1] waiter mark (<prefix>w:<uuid>)
-- ARGV[1] mark TTL ms
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  return 1
end
redis.call('PEXPIRE', KEYS[1], ARGV[1], 'GT')
return 0
