-- Watch: marks that a client waits for a task, so finishing scripts publish its completion, and
-- flags that the app has a waiter at all (finishing scripts skip the mark lookups without one).
-- Only extends an existing mark or flag, so a short wait never cuts a longer one short.
-- KEYS[1] waiter mark (<prefix>w:<uuid>), KEYS[2] any-waiter flag (<prefix>wa), KEYS[3] the record
-- ARGV[1] mark TTL ms, ARGV[2] the task's uuid (names it in a refusal)
-- Returns the record as it is now (false when there is none), read in the same atomic step: a
-- task finishing later is published to the waiter, one finished earlier is in this reply. A key of
-- another Redis type is refused (see includes/record-check.lua), before anything is marked.
--@include record-check
local function mark(key)
  if redis.call('SET', key, '1', 'NX', 'PX', ARGV[1]) then
    return 1
  end
  redis.call('PEXPIRE', key, ARGV[1], 'GT')
  return 0
end
local raw, why = readRecordText(KEYS[3])
if why then
  return malformedReply(ARGV[2], why)
end
mark(KEYS[2])
mark(KEYS[1])
return raw
