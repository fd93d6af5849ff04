-- Shared helpers, inlined into every script by the loader (redis/scripts.ts).
-- Task record: one JSON string per task at <prefix>t:<uuid>, short field names to keep it small:
--   n task name, s status, p priority, a args (JSON text), c created, u updated, b started,
--   f finished, r result (JSON text), e traceback, t attempt, x cancel reason, w worker id,
--   l stalls, d run-at (delayed), g progress (JSON text), h tracebacks of earlier attempts,
--   k lease token while a worker holds the task (checked by complete, release, progress).
--   Times are Unix milliseconds.
-- Every writer keeps one key order, `{"s":<status>[,"u":<ms>][,"k":<token>],<the rest>}`, so the
-- two hot scripts (claim, complete) read and rewrite that head with string operations instead of
-- a JSON decode and encode per task, which cost more than all their Redis commands together.
-- Queue: a list per priority (<prefix>q:<priority>) plus a sorted set of the non-empty priorities,
-- so the lowest priority is first and FIFO holds within one priority.
-- Leases: one per claim call (a batch), not per task. Batch ids come from the counter <prefix>bn;
-- the active sorted set maps each batch id to its deadline, <prefix>lb:<batch> lists the batch's
-- uuids, and each task's token is `<batch>:<n>`, so renewing or ending a lease is one command
-- per batch.

local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Encodes a record in the key order described above.
local function encodeRecord(rec)
  local s, u, k = rec.s, rec.u, rec.k
  rec.s, rec.u, rec.k = nil, nil, nil
  local rest = cjson.encode(rec)
  rec.s, rec.u, rec.k = s, u, k
  local head = '{"s":' .. cjson.encode(s)
  if u then
    head = head .. ',"u":' .. string.format('%d', u)
  end
  if k then
    head = head .. ',"k":' .. cjson.encode(k)
  end
  -- Every record has a task name, so the rest is never empty.
  return head .. ',' .. string.sub(rest, 2)
end

-- Where the rest of a queued record (`{"s":"new",` then maybe `"u":<ms>,`) starts; nil for any
-- other status, or a record not in the key order (claim then decodes it).
local function queuedRest(raw)
  if string.sub(raw, 1, 11) ~= '{"s":"new",' then
    return nil
  end
  local _, headEnd = string.find(raw, '^"u":%d+,', 12)
  return (headEnd or 11) + 1
end

-- The token of a held record (`{"s":"process","u":<ms>,"k":"<token>",`) and where its rest
-- starts; nil when the record is not held or not in the key order.
local function heldRest(raw)
  return string.match(raw, '^{"s":"process","u":%d+,"k":"([^"]*)",()')
end

-- The batch (lease) a token belongs to: tokens are `<batch>:<n>`.
local function batchOf(token)
  return string.match(token, '^(.*):%d+$')
end

-- Ends batch leases whose tasks are all settled: their deadline and their uuid list go.
local function dropBatches(prefix, activeKey, batches)
  for _, batch in ipairs(batches) do
    redis.call('ZREM', activeKey, batch)
    redis.call('DEL', prefix .. 'lb:' .. batch)
  end
end

local function decodeRecord(raw)
  local ok, rec = pcall(cjson.decode, raw)
  if ok and type(rec) == 'table' and type(rec.n) == 'string' and type(rec.s) == 'string' then
    return rec
  end
  return nil
end

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
-- (`key` is the record's key when the caller has it already.)
local function finishEncoded(prefix, uuid, status, raw, retention, notices, key)
  key = key or prefix .. 't:' .. uuid
  if retention.delete then
    redis.call('DEL', key)
  elseif retention.ttlMs > 0 then
    redis.call('SET', key, raw, 'PX', retention.ttlMs)
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
  if isWatched(prefix, uuid, notices) then
    notices[#notices + 1] = uuid
    notices[#notices + 1] = raw
  end
  return raw
end

local function finish(prefix, uuid, rec, retention, notices)
  return finishEncoded(prefix, uuid, rec.s, encodeRecord(rec), retention, notices)
end

-- One message per script call, whatever the number of finished tasks someone waits for.
local function notify(prefix, notices)
  if #notices > 0 then
    redis.call('PUBLISH', prefix .. 'done', table.concat(notices, '\n'))
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

-- Reads a task's record. Returns it, or nil when there is none or it is malformed; a malformed
-- one is failed on the spot, and the second result says so.
local function loadRecord(prefix, uuid, now, retention, notices)
  local raw = redis.call('GET', prefix .. 't:' .. uuid)
  if not raw then
    return nil, false
  end
  local rec = decodeRecord(raw)
  if rec == nil then
    failMalformed(prefix, uuid, raw, now, retention, notices)
    return nil, true
  end
  return rec, false
end

-- Puts a held task back at the head of its queue as 'new' (its worker died, or is stopping).
local function requeueAtHead(prefix, prioritiesKey, uuid, rec, now)
  rec.s = 'new'
  rec.u = now
  rec.w = nil
  rec.b = nil
  rec.k = nil
  redis.call('SET', prefix .. 't:' .. uuid, encodeRecord(rec))
  pushQueued(prefix, prioritiesKey, rec.p, uuid, true)
end
