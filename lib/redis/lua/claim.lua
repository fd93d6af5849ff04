-- Claim: first stores the outcomes the caller settles with this call (see includes/outcomes.lua),
-- then promotes due delayed tasks and takes up to ARGV[3] tasks: first those held in a waiting
-- line that may start now (see includes/waiting-lines.lua), then queued ones, lowest priority
-- first, turning each into 'process' under one lease for the whole batch (see includes/leases.lua)
-- and taking a running slot for each task with maxRunning (see includes/running-slots.lua).
-- KEYS[1] priorities zset, KEYS[2] delayed zset, KEYS[3] wake-up marker list,
-- KEYS[4] active zset (batch -> lease deadline)
-- ARGV[1] key prefix, ARGV[2] worker id, ARGV[3] max tasks, ARGV[4] lease ms,
-- ARGV[5..7] retention (see readRetention), ARGV[8] the call's id (new for each call the worker
-- makes), ARGV[9...] the tasks' limits (see readLimits; none: ARGV[9] = 0), then the outcomes
-- (none: 0)
-- Returns { ms until the next delayed task or waiting line is due (-1 = none), one
-- '1' or '0' per outcome (a string), the batch id ('' when nothing was claimed), the claimed tasks as one string of lines
-- `<uuid>\n<record>\n...` (a few long strings cost the client library far less to read than a
-- value per task; JSON has no raw newline), the keys passed over as JSON ('' when none; see
-- keyFaults in includes/key-faults.lua) }. The n-th task's token is `<batch>:<n>`.
-- A key holding what the engine does not keep there stops no claim: what it holds is passed over
-- and named in the reply, and the rest goes on (see where each is read below).
--@include time
--@include finish
--@include queue
--@include bulk
--@include outcomes
--@include answers
--@include rate-windows
--@include running-slots
--@include waiting-lines
--@include key-faults
local prefix = ARGV[1]
local now = nowMs()

-- The record keys of `uuids`, and their records (false where there is none), in one MGET.
local function readRecords(uuids)
  local keys = {}
  for i, uuid in ipairs(uuids) do
    keys[i] = prefix .. 't:' .. uuid
  end
  return keys, callInChunks('MGET', keys)
end

-- The worker's last claims, answered `<stored flags> <batch>` and kept for a lease's time (see
-- includes/answers.lua): run twice, a call sent again would store its outcomes again (and find
-- their leases ended) and hold a second batch while the first waits for its lease to run out.
-- Instead it gets the first run's answer, with the tasks of its batch still held under it.
local answerKey = prefix .. 'wc:' .. ARGV[2]
local repeated, kept = answerOfRepeat(answerKey, ARGV[8])
if repeated then
  local lastStored, lastBatch = string.match(repeated, '^(%d*) (%d*)$')
  local lines = {}
  if lastBatch ~= '' then
    local uuids = redis.call('LRANGE', prefix .. 'lb:' .. lastBatch, 0, -1)
    local _, raws = readRecords(uuids)
    for i, uuid in ipairs(uuids) do
      local raw = raws[i]
      if raw and heldRest(raw) == lastBatch .. ':' .. i then
        lines[#lines + 1] = uuid
        lines[#lines + 1] = raw
      end
    end
  end
  -- While the whole queue is paused, no due time, as a first run answers (a resume wakes the worker).
  -- The keys the first run passed over are not kept: the next claim meets them again.
  return { nextDueIn(prefix, KEYS[2], now), lastStored, lastBatch, table.concat(lines, '\n'), '' }
end

local retention = readRetention(5)
local notices = newNotices()
-- The records this call writes, as MSET arguments: kept successes (storeOutcomes adds them) and
-- the claimed tasks' held records, all in one call at the end rather than one SET per task.
local writes = {}
local limits, outcomesAt = readLimits(9)
local stored = storeOutcomes(prefix, outcomesAt, now, retention, notices, writes)
local paused, queuePaused = readPauses(prefix)
if queuePaused then
  -- Nothing starts: the outcomes are stored, and the worker sleeps until a resume wakes it.
  callInChunks('MSET', writes)
  keepAnswer(answerKey, kept, ARGV[8], stored .. ' ', ARGV[4])
  notify(prefix, notices)
  return { -1, stored, '', '', keyFaultsReply() }
end
-- Whether claimed tasks' names matter: some are limited or paused.
local namesMatter = next(limits) ~= nil or next(paused) ~= nil

-- The first delayed task; when it is due, due ones are promoted and the first is read again. A
-- delayed set of another type promotes nothing: queued tasks still start.
local function firstDelayed()
  return redis.pcall('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
end
local nextDelayed = firstDelayed()
if nextDelayed.err then
  noteKeyFault(KEYS[2], 'zset')
  nextDelayed = {}
elseif #nextDelayed > 0 and tonumber(nextDelayed[2]) <= now then
  local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
  for _, uuid in ipairs(due) do
    redis.call('ZREM', KEYS[2], uuid)
    local rec = loadRecord(prefix, uuid, now, retention, notices)
    if rec and rec.s == 'new' then
      pushQueued(prefix, KEYS[1], rec.p, uuid, false)
    end
  end
  nextDelayed = firstDelayed()
end

-- The batch id comes from a counter here, not from the caller: a claim the client library sends
-- again after a reconnect must not reuse the id of a batch that the caller never heard of.
local batch
-- The head every claimed record gets in front of its rest (see the key order in includes/record.lua).
local heldHead
local heldTail = '","b":' .. now .. ',"w":' .. cjson.encode(ARGV[2]) .. ','

-- Joined once at the end: a string built per task costs more than all its Redis commands.
local lines = {}
local claimedUuids = {}
local max = tonumber(ARGV[3])
local claimed = 0
-- Waiting lines (see includes/waiting-lines.lua): the rate-limit windows and running counts read
-- by this call, and whether tasks wait in a scheduled line.
local windows = {}
local runningCounts = {}
local anyWaiting = false
-- A line this call left due (the claim filled up before the line emptied): the next idle worker takes it.
local lineLeftDue = false
-- Nothing more is claimed: no batch can be made (see newBatch), or a task held back could not join
-- its waiting line, or take its running slot (a key of another Redis type there).
local stopped = false
-- Tasks this call put in a line: bounded, so a long backlog of one held task joins its line over
-- several calls rather than holding Redis in one.
local joinedLines = 0

-- Starts `limit` allows its task now: the room in its window and its free running slots, the fewer.
local function roomFor(name, limit)
  local room = math.huge
  if limit.rate then
    room = roomIn(rateWindow(prefix, name, windows), limit.rate, now)
  end
  if limit.running then
    room = math.min(room, limit.running - runningCount(prefix, name, runningCounts))
  end
  return room
end

-- When a line that `limit` holds back is due again: when a slot frees while every running slot is
-- held (the lease end that frees one schedules it), else when its window closes.
-- A window that cannot be read counts as full until it is mended, due at no time (each claim
-- still looks at its line).
local function lineDueAt(name, limit)
  local window = windows[name]
  if (limit.running and runningCount(prefix, name, runningCounts) >= limit.running) or (window and window.unreadable) then
    return WAITS_FOR_SLOT
  end
  return window.e
end

-- A new batch id from the counter, its lease set in the active set, or nil (noted) when the counter
-- holds no integer or another type (ids made up otherwise could be one a batch already has, whose
-- tasks would then run twice), or the active set is of another type (a batch with no lease there
-- would never be recovered). Set before any task is held, so a failure leaves nothing half done.
local function newBatch()
  local id = redis.pcall('INCR', prefix .. 'bn')
  if type(id) == 'table' then
    noteKeyFault(prefix .. 'bn', 'integer')
    return nil
  end
  if type(redis.pcall('ZADD', KEYS[4], now + tonumber(ARGV[4]), id)) == 'table' then
    noteKeyFault(KEYS[4], 'zset')
    return nil
  end
  return id
end

-- Puts uuids[from..] back at the head of the list `sourceKey` they were taken from, in their
-- order; a queue list gets its priority back, in case their taking emptied it.
local function putBack(uuids, from, sourceKey, priority)
  local back = {}
  for i = #uuids, from, -1 do
    back[#back + 1] = uuids[i]
  end
  callInChunks('LPUSH', back, sourceKey)
  if priority then
    redis.call('ZADD', KEYS[1], priority, priority)
  end
end

-- Claims the queued tasks `uuids`, taken from the list `sourceKey` (a queue's, of `priority`, or a
-- waiting line's), in order. Taken from a queue (`fromQueue`), a limited task whose window is full
-- or whose slots are all held joins its waiting line instead; taken from a line, it has room. (A
-- line with room left is emptied before the queues are read, so no queued task passes one.) With no
-- batch id to be had, or a line or slot the task cannot take, the tasks not yet claimed go back where
-- they were and the claim stops.
local function claimQueued(uuids, fromQueue, sourceKey, priority)
  local function stopAt(i)
    putBack(uuids, i, sourceKey, priority)
    stopped = true
    -- A batch made for a task that then took no slot holds nothing: no lease is left for it.
    if batch and claimed == 0 then
      redis.call('ZREM', KEYS[4], batch)
      batch = nil
    end
  end
  local keys, raws = readRecords(uuids)
  for i, uuid in ipairs(uuids) do
    local key = keys[i]
    -- A missing record was deleted, a non-'new' one cancelled: both leave the queue silently.
    local raw = raws[i]
    local rest = raw and queuedRest(raw)
    if raw and not rest then
      -- Not a queued record in the key order: decode it to tell a cancelled one from one to
      -- re-encode in order, or from a malformed one (failed on the spot).
      local rec = decodeRecord(raw)
      if rec == nil then
        failMalformed(prefix, uuid, raw, now, retention, notices)
      elseif rec.s == 'new' then
        raw = encodeRecord(rec)
        rest = queuedRest(raw)
      end
    end
    -- The task's limits, when it has some.
    local name, limit
    if rest and namesMatter then
      name = queuedTaskName(raw, rest)
      limit = name and limits[name]
      local heldBack = fromQueue and paused[name]
      local reopenAt = nil
      if not heldBack and limit and fromQueue and roomFor(name, limit) <= 0 then
        heldBack, reopenAt = true, lineDueAt(name, limit)
      end
      if heldBack then
        if not joinWaitingLine(prefix, name, uuid, reopenAt) then
          return stopAt(i)
        end
        anyWaiting = anyWaiting or reopenAt ~= nil
        joinedLines = joinedLines + 1
        rest = nil
      end
    end
    if rest and not batch then
      batch = newBatch()
      if not batch then
        return stopAt(i)
      end
      heldHead = '{"s":"process","u":' .. now .. ',"k":"' .. batch .. ':'
    end
    if rest then
      if limit and limit.running and not takeRunningSlot(prefix, name, uuid, batch, runningCounts) then
        return stopAt(i)
      end
      claimed = claimed + 1
      if limit and limit.rate then
        countStart(rateWindow(prefix, name, windows), limit.rate, now)
      end
      local held = heldHead .. claimed .. heldTail .. string.sub(raw, rest)
      writes[#writes + 1] = key
      writes[#writes + 1] = held
      claimedUuids[claimed] = uuid
      lines[#lines + 1] = uuid
      lines[#lines + 1] = held
    end
  end
end

-- Waiting lines with room go first (a window reopened, a slot freed, a task given back, a resume,
-- or a limit raised or removed since): their tasks were met before anything queued.
local scheduled = redis.pcall('ZRANGE', prefix .. 'rw', 0, -1, 'WITHSCORES')
if scheduled.err then
  noteKeyFault(prefix .. 'rw', 'zset')
  scheduled = {}
  -- No line can be scheduled: a task met that must wait in one could not, so while some are
  -- limited or paused, nothing is taken from the queues.
  stopped = namesMatter
end
for i = 1, #scheduled, 2 do
  if stopped then
    break
  end
  local name = scheduled[i]
  local limit = limits[name]
  -- A task no longer limited (not in this claim's limits) waits for nothing.
  local room = limit and roomFor(name, limit) or math.huge
  local allowed = math.min(max - claimed, room)
  if allowed <= 0 then
    anyWaiting = true
    -- Due, but this claim is full: the next idle worker takes it.
    lineLeftDue = lineLeftDue or room > 0
    if room <= 0 then
      -- Full: it waits for a slot, or for its window's close.
      local dueAt = lineDueAt(name, limit)
      if tonumber(scheduled[i + 1]) ~= dueAt then
        redis.call('ZADD', prefix .. 'rw', dueAt, name)
      end
    end
  else
    local lineKey = prefix .. 'rp:' .. name
    -- A line of another Redis type is passed over, its schedule left as it is.
    local readable = true
    repeat
      local taken = redis.pcall('LPOP', lineKey, allowed)
      if taken and taken.err then
        noteKeyFault(lineKey, 'list')
        readable, taken = false, nil
      end
      if taken then
        local before = claimed
        claimQueued(taken, false, lineKey)
        allowed = allowed - (claimed - before)
      end
    until not taken or allowed <= 0 or stopped
    -- The rest wait for a slot or the window this call filled, or for the next claim when this
    -- one is full.
    local dueAt = now
    if limit and roomFor(name, limit) <= 0 then
      dueAt = lineDueAt(name, limit)
    end
    if readable and settleWaitingLine(prefix, name, dueAt) then
      anyWaiting = true
      lineLeftDue = lineLeftDue or dueAt == now
    end
  end
end

-- Priorities whose list holds another Redis type are passed over (their entry left as it is, to be
-- named again until the list is mended): the others' tasks still start. A priorities set of another
-- type leaves every queue unread (queuesUnread).
local passed = 0
local queuesUnread = false
while claimed < max and joinedLines < 1000 and not stopped do
  local top = redis.pcall('ZRANGE', KEYS[1], passed, passed)
  if top.err then
    noteKeyFault(KEYS[1], 'zset')
    queuesUnread = true
    break
  elseif #top == 0 then
    break
  end
  local listKey = prefix .. 'q:' .. top[1]
  local wanted = max - claimed
  local uuids = redis.pcall('LPOP', listKey, wanted) or {}
  if uuids.err then
    noteKeyFault(listKey, 'list')
    passed = passed + 1
  else
    if #uuids < wanted then
      redis.call('ZREM', KEYS[1], top[1])
    end
    claimQueued(uuids, true, listKey, top[1])
  end
end

saveRateWindows(prefix, windows)
callInChunks('MSET', writes)
if claimed > 0 then
  callInChunks('RPUSH', claimedUuids, prefix .. 'lb:' .. batch)
end
-- Work left behind wakes the next idle worker. (A claim that got fewer than it asked for
-- emptied every list and line it could take from, or put all it could in lines.) A marker of
-- another type wakes no one: the claim's tasks are held already, and idle workers look again
-- within their idle block.
if lineLeftDue or ((claimed == max or joinedLines >= 1000) and not queuesUnread and redis.call('ZCARD', KEYS[1]) > passed) then
  if type(wake(KEYS[3], redis.pcall)) == 'table' then
    noteKeyFault(KEYS[3], 'list')
  end
end
keepAnswer(answerKey, kept, ARGV[8], stored .. ' ' .. (batch or ''), ARGV[4])
notify(prefix, notices)
local nextReopen = anyWaiting and redis.call('ZRANGE', prefix .. 'rw', 0, 0, 'WITHSCORES') or {}
return { dueIn(now, nextDelayed, nextReopen), stored, tostring(batch or ''), table.concat(lines, '\n'), keyFaultsReply() }
