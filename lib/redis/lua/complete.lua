-- Complete: stores the outcome of tasks whose lease the caller still holds. A worker whose lease
-- expired (and whose task went to another worker) gets 0 back and its outcome is dropped.
-- Outcomes: 'success' (payload = result JSON), 'error' (payload = traceback), 'cancel' (payload =
-- reason), 'retry' (payload = traceback; the task goes back under the same uuid with attempt + 1,
-- after the delay, and the traceback joins the record's error history).
-- KEYS[1] active zset, KEYS[2] priorities zset, KEYS[3] delayed zset, KEYS[4] wake-up marker list
-- ARGV[1] key prefix, ARGV[2..4] retention (see readRetention), ARGV[5] number of batches
-- whose lease ends with this call, then their ids; then 5 per outcome: uuid, token, status,
-- payload, retry delay ms
-- Returns one 1 (stored) or 0 (lease lost) per outcome.
--@include common
local prefix = ARGV[1]
local now = nowMs()
local retention = readRetention(2)
local notices = {}
local out = {}
local requeued = 0
local batchCount = tonumber(ARGV[5])
local endedBatches = { unpack(ARGV, 6, 5 + batchCount) }

-- The usual outcome, success of a record in the key order, is a string edit of its head.
local function storeSuccess(uuid, raw, rest, payload)
  local done = '{"s":"success","u":' .. now .. ',"f":' .. now .. ',"r":' .. cjson.encode(payload) .. ',' ..
    string.sub(raw, rest)
  finishEncoded(prefix, uuid, 'success', done, retention, notices)
end

local function storeOther(uuid, rec, status, payload, delay)
  rec.k = nil
  rec.u = now
  if status == 'retry' then
    rec.h = rec.h or {}
    rec.h[#rec.h + 1] = payload
    rec.e = payload
    rec.t = (rec.t or 1) + 1
    rec.s = 'new'
    rec.w = nil
    rec.b = nil
    if delay > 0 then
      rec.d = now + delay
      redis.call('ZADD', KEYS[3], rec.d, uuid)
    else
      rec.d = nil
      pushQueued(prefix, KEYS[2], rec.p, uuid, false)
    end
    -- Woken for a delayed retry too: the next claim tells an idle worker when it is due.
    requeued = requeued + 1
    redis.call('SET', prefix .. 't:' .. uuid, encodeRecord(rec))
    return
  end
  rec.s = status
  rec.f = now
  if status == 'success' then
    rec.r = payload
  elseif status == 'cancel' then
    rec.x = payload
  else
    rec.e = payload
    if rec.h then
      rec.h[#rec.h + 1] = payload
    end
  end
  finish(prefix, uuid, rec, retention, notices)
end

for i = 6 + batchCount, #ARGV, 5 do
  local uuid, token, status, payload, delay = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4])
  local raw = redis.call('GET', prefix .. 't:' .. uuid)
  -- A record removed (or unreadable) while it ran has no token to check: its lease just ends.
  local stored = 1
  if raw then
    local holder, rest = heldRest(raw)
    if holder == nil then
      -- Not a held record in the key order: decode it to read its token, if any.
      local rec = decodeRecord(raw)
      if rec and rec.k == token then
        storeOther(uuid, rec, status, payload, delay)
      elseif rec then
        stored = 0
      end
    elseif holder ~= token then
      stored = 0
    elseif status == 'success' then
      storeSuccess(uuid, raw, rest, payload)
    else
      local rec = decodeRecord(raw)
      if rec then
        storeOther(uuid, rec, status, payload, delay)
      end
    end
  end
  out[#out + 1] = stored
end
dropBatches(prefix, KEYS[1], endedBatches)
if requeued > 0 then
  wake(KEYS[4])
end
notify(prefix, notices)
return out
