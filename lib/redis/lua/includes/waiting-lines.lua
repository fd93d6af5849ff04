-- Waiting lines: tasks a claim met but may not start yet wait aside, in the order met, in a list
-- per task name <prefix>rp:<name> (uuids), and start from its head before anything queued once
-- they may: a task waits at most once, keeps its place, and nothing goes round the queue again.
-- Two things hold tasks back:
-- * A rate limit: at most `max` starts of one task per window of `window` ms, across every
--   worker. A window opens with the first start after the last one closed: <prefix>rl:<name>
--   holds it as a hash (n starts, s start, e end, in ms) and expires when it closes. A task met
--   while its window is full waits; each claim starts waiting tasks while their window has room.
--   <prefix>rw scores each name with a line by when its window reopens (what an idle worker
--   sleeps until).
-- * A pause (pause.lua): the set <prefix>ps holds paused task names, and '' while the whole queue
--   is paused. A paused task's line stays out of <prefix>rw until it is resumed.
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

-- The window of `name`, read once per call into `windows`: { n = starts, s = start, e = end }.
local function rateWindow(prefix, name, windows)
  local window = windows[name]
  if not window then
    local stored = redis.call('HMGET', prefix .. 'rl:' .. name, 'n', 's', 'e')
    window = { n = tonumber(stored[1]) or 0, s = tonumber(stored[2]) or 0, e = tonumber(stored[3]) or 0 }
    windows[name] = window
  end
  return window
end

-- Starts the window allows now (a closed one allows `max`: the next start opens a new one).
local function roomIn(window, limit, now)
  if window.e <= now then
    return limit.max
  end
  return limit.max - window.n
end

local function countStart(window, limit, now)
  if window.e <= now then
    window.n, window.s, window.e = 0, now, now + limit.window
  end
  window.n = window.n + 1
  window.changed = true
end

-- Stores the windows this call counted starts in; each key expires when its window closes.
local function saveRateWindows(prefix, windows)
  for name, window in pairs(windows) do
    if window.changed then
      local key = prefix .. 'rl:' .. name
      redis.call('HSET', key, 'n', window.n, 's', window.s, 'e', window.e)
      redis.call('PEXPIREAT', key, window.e)
    end
  end
end

-- A held task given back unstarted leaves the count of the window it was claimed in, while that
-- window is open: it did not start. The room it leaves makes its name's waiting line due now.
local function uncountStart(prefix, rec, now)
  local key = prefix .. 'rl:' .. rec.n
  local stored = redis.call('HMGET', key, 'n', 's', 'e')
  local started, opened, closes = tonumber(stored[1]), tonumber(stored[2]), tonumber(stored[3])
  if started and started > 0 and rec.b and rec.b >= opened and now < closes then
    redis.call('HINCRBY', key, 'n', -1)
    redis.call('ZADD', prefix .. 'rw', 'XX', 'LT', now, rec.n)
  end
end

-- Puts a task at the tail of its name's waiting line; a new line reopens at `reopenAt` (nil: it
-- waits for a resume).
local function joinWaitingLine(prefix, name, uuid, reopenAt)
  if redis.call('RPUSH', prefix .. 'rp:' .. name, uuid) == 1 and reopenAt then
    redis.call('ZADD', prefix .. 'rw', reopenAt, name)
  end
end

-- What is paused: name -> true for each paused task, and whether the whole queue is.
local function readPauses(prefix)
  local paused = {}
  for _, name in ipairs(redis.call('SMEMBERS', prefix .. 'ps')) do
    paused[name] = true
  end
  local queuePaused = paused[''] == true
  paused[''] = nil
  return paused, queuePaused
end

-- After a claim took what it could from a line: forgotten once empty, else due again at `dueAt`.
-- True while tasks still wait in it.
local function settleWaitingLine(prefix, name, dueAt)
  if redis.call('EXISTS', prefix .. 'rp:' .. name) == 0 then
    redis.call('ZREM', prefix .. 'rw', name)
    return false
  end
  redis.call('ZADD', prefix .. 'rw', dueAt, name)
  return true
end

-- Takes a task out of its name's waiting line, if it waits there (a cancel).
local function leaveWaitingLine(prefix, name, uuid)
  local lineKey = prefix .. 'rp:' .. name
  if redis.call('LREM', lineKey, 1, uuid) == 1 and redis.call('EXISTS', lineKey) == 0 then
    redis.call('ZREM', prefix .. 'rw', name)
  end
end
