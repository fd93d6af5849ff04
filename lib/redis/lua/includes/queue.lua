-- Queue: a list per priority (<prefix>q:<priority>) plus a sorted set of the non-empty priorities,
-- so the lowest priority is first and FIFO holds within one priority. An idle worker blocks on the
-- wake-up marker list.

-- Puts a task in its priority's list: at the tail for new work, at the head for work given back.
-- A record leaves out priority 0 (record-codec.ts), hence the default. Only the first task of a
-- list adds its priority to the sorted set (claim drops the priority when the list runs dry).
local function pushQueued(prefix, prioritiesKey, priority, uuid, atHead)
  priority = priority or 0
  local listKey = prefix .. 'q:' .. priority
  local length
  if atHead then
    length = redis.call('LPUSH', listKey, uuid)
  else
    length = redis.call('RPUSH', listKey, uuid)
  end
  if length == 1 then
    redis.call('ZADD', prioritiesKey, priority, priority)
  end
end

-- One marker wakes one blocked worker; a worker that leaves work behind pushes the next one.
local function wake(markerKey)
  if redis.call('LLEN', markerKey) == 0 then
    redis.call('RPUSH', markerKey, '1')
  end
end
