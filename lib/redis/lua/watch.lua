-- Watch: marks that a client waits for a task, so finishing scripts publish its completion, and
-- flags that the app has a waiter at all (finishing scripts skip the mark lookups without one).
-- Only extends an existing mark or flag, so a short wait never cuts a longer one short.
-- KEYS[1] waiter mark (<prefix>w:<uuid>), KEYS[2] any-waiter flag (<prefix>wa)
-- ARGV[1] mark TTL ms
local function mark(key)
  if redis.call('SET', key, '1', 'NX', 'PX', ARGV[1]) then
    return 1
  end
  redis.call('PEXPIRE', key, ARGV[1], 'GT')
  return 0
end
mark(KEYS[2])
return mark(KEYS[1])
