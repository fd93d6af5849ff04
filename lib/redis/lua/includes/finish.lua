-- Final statuses: retention, completion notices, malformed records.
--@include record
--@include key-faults
-- Only tasks a client waits for get a completion notice. While no client of the app waits at all
-- (watch.lua keeps the flag <prefix>wa alive as long as any mark), per-task marks are not looked up.
local function isWatched(prefix, uuid, notices)
  if notices.anyWaiter == nil then
    notices.anyWaiter = redis.call('EXISTS', prefix .. 'wa') == 1
  end
  return notices.anyWaiter and redis.call('EXISTS', prefix .. 'w:' .. uuid) == 1
end

-- Retention settings: every script that can finish a task takes them as three ARGV values from
-- `at`: delete finished ('1'/'0'), result TTL ms (0 = keep), newest finished kept per status (0 = all).
local function readRetention(at)
  return { delete = ARGV[at] == '1', ttlMs = tonumber(ARGV[at + 1]), keep = tonumber(ARGV[at + 2]) }
end

-- Stores a record that reached a final status, honouring the retention settings, and collects
-- a completion notice when a client waits for this task. With a `keep` limit, finished uuids of
-- each status sit in a sorted set in finishing order (<prefix>f:<status>, score = sequence, since
-- many tasks finish within one millisecond); the oldest beyond the limit lose their record here,
-- in the same atomic step, so memory stays bounded however long the run.
-- (`key` is the record's key when the caller has it already. `writes`, when given, collects
-- key-value pairs the caller writes later in one MSET: used for a record kept for good with no
-- `keep` limit, as a limit could trim that very record within the same call.)
local function finishEncoded(prefix, uuid, status, raw, retention, notices, key, writes)
  key = key or prefix .. 't:' .. uuid
  if retention.delete then
    redis.call('DEL', key)
  elseif retention.ttlMs > 0 then
    redis.call('SET', key, raw, 'PX', retention.ttlMs)
  elseif writes and retention.keep == 0 then
    writes[#writes + 1] = key
    writes[#writes + 1] = raw
  else
    redis.call('SET', key, raw)
  end
  if retention.keep > 0 and not retention.delete then
    local finishedKey = prefix .. 'f:' .. status
    local newest = redis.call('ZRANGE', finishedKey, -1, -1, 'WITHSCORES')
    redis.call('ZADD', finishedKey, (tonumber(newest[2]) or 0) + 1, uuid)
    local excess = redis.call('ZCARD', finishedKey) - retention.keep
    if excess > 0 then
      local dropped = redis.call('ZPOPMIN', finishedKey, excess)
      for i = 1, #dropped, 2 do
        redis.call('DEL', prefix .. 't:' .. dropped[i])
      end
    end
  end
  notices.finished[status] = (notices.finished[status] or 0) + 1
  if isWatched(prefix, uuid, notices) then
    notices[#notices + 1] = uuid
    notices[#notices + 1] = raw
    -- A record that may be gone before its waiter reads it (deleted, expiring, trimmed) is kept in
    -- the waiter's mark too: should the notice be lost, the re-read finds it there. For 60 s at
    -- most (a mark's life between renewals, OPEN_WAIT_MARK_MS), unless an open wait renews it.
    if retention.delete or retention.ttlMs > 0 or retention.keep > 0 then
      local mark = prefix .. 'w:' .. uuid
      redis.call('SET', mark, raw, 'KEEPTTL')
      redis.call('PEXPIRE', mark, 60000, 'LT')
    end
  end
  return raw
end

local function finish(prefix, uuid, rec, retention, notices)
  return finishEncoded(prefix, uuid, rec.s, encodeRecord(rec), retention, notices)
end

-- What a finishing script collects as it goes (`notices`): the completion notices (uuid, record,
-- ...) and how many tasks reached each final status.
local function newNotices()
  return { finished = {} }
end

-- One message per script call, whatever the number of finished tasks someone waits for, and one
-- counter update per final status: the totals the dashboard and the CLI show (<prefix>st). A total
-- that cannot be counted (a key of another Redis type, a field holding no integer: written by
-- hand) is left as it is, by pcall: the outcomes are stored by then, and failing the call would
-- report them lost (a worker would send them again for ever, a cancel would reject though done).
-- It is noted (see key-faults.lua): a claim's reply names it, and the worker logs it.
local function notify(prefix, notices)
  if #notices > 0 then
    redis.call('PUBLISH', prefix .. 'done', table.concat(notices, '\n'))
  end
  for status, count in pairs(notices.finished) do
    if type(redis.pcall('HINCRBY', prefix .. 'st', status, count)) == 'table' then
      noteCounterFault(prefix .. 'st', status)
    end
  end
end

-- A record that is not valid JSON fails alone: it is replaced by an error record keeping its text.
local function failMalformed(prefix, uuid, raw, now, retention, notices)
  local rec = {
    n = '?', s = 'error', p = 0, a = '[]', c = now, u = now, f = now, t = 1, l = 0,
    e = 'MalformedRecordError: the stored record is not a valid task record: ' .. string.sub(raw, 1, 200),
  }
  finish(prefix, uuid, rec, retention, notices)
end

-- Reads a task's record. Returns it, or nil when there is none or it is no task record, and then
-- why as the second result. Malformed text is failed on the spot; a key holding another Redis type
-- is left as it is (no text to keep, and not a string of ours to overwrite).
local function loadRecord(prefix, uuid, now, retention, notices)
  local raw, otherType = readRecordText(prefix .. 't:' .. uuid)
  if otherType then
    return nil, otherType .. '; left as it is'
  elseif not raw then
    return nil, nil
  end
  local rec = decodeRecord(raw)
  if rec == nil then
    failMalformed(prefix, uuid, raw, now, retention, notices)
    return nil, 'not a valid task record; it ended error, keeping its text'
  end
  return rec, nil
end
