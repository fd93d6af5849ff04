-- Rate limits: at most `max` starts of one task per window of `window` ms, across every worker.
-- A window opens with the first start after the last one closed: <prefix>rl:<name> counts its
-- starts and expires with it. A claim that takes a task whose window is full parks it at the tail
-- of <prefix>rp:<name> (entries `<uuid> <priority>`) instead of starting it, and <prefix>rw holds
-- each name with parked tasks, scored by when its window reopens. Once it has, a claim moves only
-- what the new window allows back to the head of their queues: a long backlog waits where it is
-- rather than going round the queue every window.
--@include queue
--@include record

-- The limits a claim carries from ARGV[at]: a count, then `<name> <max> <window ms>` per task.
-- Returns name -> { max, window } and the index of the first ARGV after them.
local function readRateLimits(at)
  local limits = {}
  local count = tonumber(ARGV[at])
  for i = at + 1, at + 3 * count, 3 do
    limits[ARGV[i]] = { max = tonumber(ARGV[i + 1]), window = tonumber(ARGV[i + 2]) }
  end
  return limits, at + 1 + 3 * count
end

-- The task name of a queued record whose rest starts at `rest` (see queuedRest): a pattern, not a
-- JSON decode, as on every hot path; names with escaped characters take the decode.
local function queuedTaskName(raw, rest)
  local name = string.match(raw, '"n":"([^"\\]*)"', rest)
  if name then
    return name
  end
  local rec = decodeRecord(raw)
  return rec and rec.n
end

-- Counts a start of `name` in its window; returns nil when the window allows it, else the time
-- (ms) at which the window reopens. `full` caches the answer per name for the rest of this call.
local function rateLimitedUntil(prefix, name, limit, now, full)
  if full[name] then
    return full[name]
  end
  local key = prefix .. 'rl:' .. name
  local started = redis.call('INCR', key)
  if started == 1 then
    redis.call('PEXPIRE', key, limit.window)
  end
  if started <= limit.max then
    return nil
  end
  full[name] = now + math.max(redis.call('PTTL', key), 0)
  return full[name]
end

-- Parks a task whose window is full until it reopens at `reopenAt`.
local function parkLimited(prefix, name, uuid, priority, reopenAt)
  redis.call('RPUSH', prefix .. 'rp:' .. name, uuid .. ' ' .. priority)
  redis.call('ZADD', prefix .. 'rw', reopenAt, name)
end

-- Takes a parked task out (a cancelled one): true when it was parked.
local function unparkOne(prefix, name, uuid, priority)
  local parkedKey = prefix .. 'rp:' .. name
  if redis.call('LREM', parkedKey, 1, uuid .. ' ' .. priority) == 0 then
    return false
  end
  if redis.call('LLEN', parkedKey) == 0 then
    redis.call('ZREM', prefix .. 'rw', name)
  end
  return true
end

-- Moves parked tasks whose window has reopened back to the head of their queues, in the order
-- they were parked: as many as the window has room for (all, for a task no longer limited).
-- Returns the first window still closed, as { name, reopen time } (empty: none).
local function unparkReopened(prefix, prioritiesKey, limits, now)
  local waitingKey = prefix .. 'rw'
  local first = redis.call('ZRANGE', waitingKey, 0, 0, 'WITHSCORES')
  if #first == 0 or tonumber(first[2]) > now then
    return first
  end
  for _, name in ipairs(redis.call('ZRANGEBYSCORE', waitingKey, '-inf', now, 'LIMIT', 0, 100)) do
    local limit = limits[name]
    local room = 1000
    local counterKey = prefix .. 'rl:' .. name
    if limit then
      room = limit.max - tonumber(redis.call('GET', counterKey) or 0)
    end
    local parkedKey = prefix .. 'rp:' .. name
    local entries = room > 0 and redis.call('LPOP', parkedKey, room) or {}
    -- Last first: each goes in front of the one parked before it.
    for i = #entries, 1, -1 do
      local uuid, priority = string.match(entries[i], '^(%S+) (%S+)$')
      pushQueued(prefix, prioritiesKey, priority, uuid, true)
    end
    if redis.call('LLEN', parkedKey) == 0 then
      redis.call('ZREM', waitingKey, name)
    else
      -- The rest wait for the window these ones open (or the one still counting).
      local reopensIn = limit and redis.call('PTTL', counterKey) or 0
      redis.call('ZADD', waitingKey, now + (reopensIn > 0 and reopensIn or limit and limit.window or 0), name)
    end
  end
  return redis.call('ZRANGE', waitingKey, 0, 0, 'WITHSCORES')
end
