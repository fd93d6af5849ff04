-- Waiting lines: tasks a claim met but may not start yet wait aside, in the order met, in a list
-- per task name <prefix>rp:<name> (uuids), and start from its head before anything queued once
-- they may: a task waits at most once, keeps its place, and nothing goes round the queue again.
-- Three things hold tasks back:
-- * A rate limit: at most `max` starts of one task per window of `window` ms, across every
--   worker (windows: rate-windows.lua). A task met while its window is full waits; each claim
--   starts waiting tasks while their window has room. <prefix>rw scores each name with a line by
--   when it is due: its window's close (what an idle worker sleeps until), or 0 or now for a line
--   resumed or left with room.
-- * A running limit: at most `running` tasks of one name held by workers at once (slots:
--   running-slots.lua). A line whose slots are all held is scored WAITS_FOR_SLOT, after any time
--   (never due by the clock), until a lease end frees a slot and scores it 0; each claim still
--   looks at it, so one whose limit was raised or removed starts at once.
-- * A pause (pause.lua): the set <prefix>ps holds paused task names, and '' while the whole queue
--   is paused. A paused task's line stays out of <prefix>rw until it is resumed.
--@include record
--@include key-faults

-- The score of a line waiting for a running slot (2^53 - 1, as RUNNING_SLOT_WAIT in
-- lib/core/running-limit.ts): later than any due time, so it is never one.
local WAITS_FOR_SLOT = 9007199254740991

-- ms from `now` until the first of these (a ZRANGE WITHSCORES reply each: the first delayed task,
-- the first scheduled line) is due, 0 when one is; -1 when none is (a line waiting for a running
-- slot is due at no time).
local function dueIn(now, ...)
  local due = -1
  for _, first in ipairs({ ... }) do
    if #first > 0 and tonumber(first[2]) < WAITS_FOR_SLOT then
      -- Rounded up: a task scheduled a step into a millisecond (see scheduleDelayed) is due at its end.
      local wait = math.ceil(math.max(0, tonumber(first[2]) - now))
      if due < 0 or wait < due then
        due = wait
      end
    end
  end
  return due
end

-- ms from `now` until the first delayed task (zset `delayedKey`) or scheduled line is due, 0 when
-- one is; -1 when none is, or while the whole queue is paused (a claim then starts nothing).
local function nextDueIn(prefix, delayedKey, now)
  if redis.call('SISMEMBER', prefix .. 'ps', '') == 1 then
    return -1
  end
  return dueIn(now, redis.call('ZRANGE', delayedKey, 0, 0, 'WITHSCORES'), redis.call('ZRANGE', prefix .. 'rw', 0, 0, 'WITHSCORES'))
end

-- The limits a claim carries from ARGV[at]: a count, then `<name> <max starts> <window ms>
-- <max running>` per task (0 where it has no such limit). Returns name -> { rate = { max, window }
-- or nil, running = max running or nil } and the index of the first ARGV after them.
local function readLimits(at)
  local limits = {}
  local count = tonumber(ARGV[at])
  for i = at + 1, at + 4 * count, 4 do
    local max, running = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 3])
    limits[ARGV[i]] = {
      rate = max > 0 and { max = max, window = tonumber(ARGV[i + 2]) } or nil,
      running = running > 0 and running or nil,
    }
  end
  return limits, at + 1 + 4 * count
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

-- Puts a task at the tail of its name's waiting line; a new line reopens at `reopenAt` (nil: it
-- waits for a resume). False (noted) when the line holds another Redis type: the task is not in it.
local function joinWaitingLine(prefix, name, uuid, reopenAt)
  local lineKey = prefix .. 'rp:' .. name
  local length = redis.pcall('RPUSH', lineKey, uuid)
  if type(length) == 'table' then
    noteKeyFault(lineKey, 'list')
    return false
  end
  if length == 1 and reopenAt then
    redis.call('ZADD', prefix .. 'rw', reopenAt, name)
  end
  return true
end

-- What is paused: name -> true for each paused task, and whether the whole queue is. A pauses set
-- of another Redis type (noted, see key-faults.lua) counts as the whole queue paused: any task may
-- be one its owner paused.
local function readPauses(prefix)
  local paused = {}
  local members = redis.pcall('SMEMBERS', prefix .. 'ps')
  if members.err then
    noteKeyFault(prefix .. 'ps', 'set')
    return paused, true
  end
  for _, name in ipairs(members) do
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
