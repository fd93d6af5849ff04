-- Queue: a list per priority (<prefix>q:<priority>) plus a sorted set of the non-empty priorities,
-- so the lowest priority is first and FIFO holds within one priority. An idle worker blocks on the
-- wake-up marker list.
-- Both helpers take an optional `call`: redis.call (the default: an error stops the script), or
-- redis.pcall for a caller that takes its writes back when one fails (enqueue.lua): a failed
-- command's error is then returned.

-- Puts a task in its priority's list: at the tail for new work, at the head for work given back.
-- A record leaves out priority 0 (record-codec.ts), hence the default. Only the first task of a
-- list adds its priority to the sorted set (claim drops the priority when the list runs dry).
local function pushQueued(prefix, prioritiesKey, priority, uuid, atHead, call)
  call = call or redis.call
  priority = priority or 0
  local listKey = prefix .. 'q:' .. priority
  local length
  if atHead then
    length = call('LPUSH', listKey, uuid)
  else
    length = call('RPUSH', listKey, uuid)
  end
  if length == 1 then
    return call('ZADD', prioritiesKey, priority, priority)
  end
  return length
end

-- Tasks due in the same millisecond are promoted in the order they were delayed (FIFO, as in a
-- queue), though Redis orders equal scores by member, a random uuid here: each is scheduled one
-- step after the last of its millisecond. A step of 1/1024 ms is still exact at any due time
-- within 100 years (scores under 2^43 ms); past 1024 tasks in one millisecond, the rest share its
-- last step. Returns ZADD's reply, or the error of the first command `call` failed.
local DUE_STEP = 1 / 1024
local function scheduleDelayed(delayedKey, dueAt, uuid, call)
  call = call or redis.call
  local score = dueAt
  local nextMs = math.floor(dueAt) + 1
  -- Scores go as text with every digit: a number argument would be cut to 14 digits, losing the step.
  local last = call('ZREVRANGEBYSCORE', delayedKey, '(' .. string.format('%.17g', nextMs), string.format('%.17g', dueAt), 'LIMIT', 0, 1, 'WITHSCORES')
  if last.err then
    return last
  elseif #last > 0 then
    score = math.min(tonumber(last[2]) + DUE_STEP, nextMs - DUE_STEP)
  end
  return call('ZADD', delayedKey, string.format('%.17g', score), uuid)
end

-- One marker wakes one blocked worker; a worker that leaves work behind pushes the next one.
local function wake(markerKey, call)
  call = call or redis.call
  local pending = call('LLEN', markerKey)
  if pending == 0 then
    return call('RPUSH', markerKey, '1')
  end
  return pending
end
