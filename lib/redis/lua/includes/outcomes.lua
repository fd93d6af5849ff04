-- Outcomes: stores the outcomes of tasks whose lease the caller still holds (complete.lua, and
-- claim.lua before it claims, so a busy worker settles a batch and takes the next in one call).
-- A worker whose lease expired (and whose task went to another worker) gets 0 back and its
-- outcome is dropped.
-- Outcomes: 'success' (payload = result JSON), 'error' (payload = traceback), 'cancel' (payload =
-- reason), 'retry' (payload = traceback; the task goes back under the same uuid with attempt + 1,
-- after the delay, without its progress, and the traceback joins the record's error history; a
-- task whose cancel was asked for meanwhile ends 'cancel' instead).
-- Both scripts take the same KEYS: [1] priorities zset, [2] delayed zset, [3] wake-up marker list,
-- [4] active zset. From ARGV[first]: the number of batches whose lease ends with this call, their
-- ids, then one value per outcome, `<uuid> <token> <status> <retry delay ms> <payload>` (one
-- value rather than five: the client library's cost is per value, and the payload goes last, so
-- it may hold spaces).
-- Returns a string of one '1' (stored) or '0' (lease lost) per outcome, and whether a running slot
-- its lease took (see running-slots.lua) was freed for waiting tasks: complete.lua then wakes an idle
-- worker, while a claim starts them itself.
--@include record
--@include queue
--@include leases
--@include bulk
--@include finish
--@include running-slots
-- Successes kept for good are not written here but added to `writes` (key, record, ...), which
-- the caller writes in one MSET together with its own writes (see finishEncoded).
local function storeOutcomes(prefix, first, now, retention, notices, writes)
  local out = {}
  local requeued = 0

  -- The usual outcome, success of a record in the key order, is a string edit of its head (whose
  -- start is the same for the whole call: numbers turned into text once, not per task).
  local successHead = '{"s":"success","u":' .. now .. ',"f":' .. now .. ',"r":'
  local function storeSuccess(uuid, key, raw, rest, payload)
    local done = successHead .. cjson.encode(payload) .. ',' .. string.sub(raw, rest)
    finishEncoded(prefix, uuid, 'success', done, retention, notices, key, writes)
  end

  local function storeOther(uuid, rec, status, payload, delay)
    rec.k = nil
    rec.u = now
    if status == 'retry' then
      rec.h = rec.h or {}
      rec.h[#rec.h + 1] = payload
      rec.e = payload
      if rec.x ~= nil then
        -- Its cancel was asked for while this attempt ran: no further attempt, it ends 'cancel'.
        rec.s = 'cancel'
        rec.f = now
        finish(prefix, uuid, rec, retention, notices)
        return
      end
      rec.t = (rec.t or 1) + 1
      rec.s = 'new'
      rec.w = nil
      rec.b = nil
      -- The failed attempt's progress is no measure of the next one's.
      rec.g = nil
      if delay > 0 then
        rec.d = now + delay
        scheduleDelayed(KEYS[2], rec.d, uuid)
      else
        rec.d = nil
        pushQueued(prefix, KEYS[1], rec.p, uuid, false)
      end
      -- Woken for a delayed retry too: the next claim tells an idle worker when it is due.
      requeued = requeued + 1
      redis.call('SET', prefix .. 't:' .. uuid, encodeRecord(rec))
      return
    end
    rec.s = status
    rec.f = now
    -- A cancel that came too late (the task ended on its own first) leaves no reason behind: only
    -- a 'cancel' record has one.
    if status ~= 'cancel' then
      rec.x = nil
    end
    if status == 'success' then
      rec.r = payload
      -- A failed attempt's traceback stays in h only: a task that succeeded shows no error.
      rec.e = nil
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

  -- Whether a batch's lease is still in force, looked up once per batch. While it is, nobody else
  -- was given its tasks (recovery ends the lease first), so its tokens need no record read.
  local held = {}
  local function leaseHeld(token)
    local batch = batchOf(token)
    if held[batch] == nil then
      held[batch] = redis.call('ZSCORE', KEYS[4], batch) ~= false
    end
    return held[batch]
  end

  -- First pass: read the outcomes, and every record they need in one MGET. A success whose
  -- record goes anyway is deleted unread (all in one DEL), unless a waiter needs its final form.
  local batchCount = tonumber(ARGV[first])
  local uuids, tokens, statuses, delays, payloads, keys, readAt = {}, {}, {}, {}, {}, {}, {}
  local readKeys, dropKeys = {}, {}
  for i = first + 1 + batchCount, #ARGV do
    local n = #uuids + 1
    local uuid, token, status, delay, payload = string.match(ARGV[i], '^(%S+) (%S+) (%S+) (%S+) (.*)$')
    local key = prefix .. 't:' .. uuid
    uuids[n], tokens[n], statuses[n], delays[n], payloads[n], keys[n] = uuid, token, status, tonumber(delay), payload, key
    if status == 'success' and retention.delete and leaseHeld(token) and not isWatched(prefix, uuid, notices) then
      dropKeys[#dropKeys + 1] = key
      readAt[n] = false
      notices.finished.success = (notices.finished.success or 0) + 1
    else
      readKeys[#readKeys + 1] = key
      readAt[n] = #readKeys
    end
  end
  callInChunks('DEL', dropKeys)
  local raws = callInChunks('MGET', readKeys)
  local slotsHeld = #uuids > 0 and anySlotHeld(prefix)
  local slotFreed = false

  for n = 1, #uuids do
    local uuid, token, status, delay, payload = uuids[n], tokens[n], statuses[n], delays[n], payloads[n]
    local raw = readAt[n] and raws[readAt[n]]
    -- A record removed (or unreadable) while it ran has no token to check: its outcome counts as
    -- stored while its batch's lease is in force (nobody else was given the task), else as late.
    local stored = '1'
    if not raw then
      stored = leaseHeld(token) and '1' or '0'
    else
      local holder, rest = heldRest(raw)
      if holder == nil then
        -- Not a held record in the key order: decode it to read its token, if any.
        local rec = decodeRecord(raw)
        if rec and rec.k == token then
          storeOther(uuid, rec, status, payload, delay)
        elseif rec or not leaseHeld(token) then
          stored = '0'
        else
          -- No task record, and nobody else was given the task: it ends 'error', not left as it is.
          failMalformed(prefix, uuid, raw, now, retention, notices)
        end
      elseif holder ~= token then
        stored = '0'
      elseif status == 'success' and not string.find(raw, '"e":', rest, true) and not string.find(raw, '"x":', rest, true) then
        -- The usual success: no traceback of a failed attempt and no cancel request to drop
        -- (inside the record's JSON texts a quote is escaped, so only its own keys match).
        storeSuccess(uuid, keys[n], raw, rest, payload)
      else
        local rec = decodeRecord(raw)
        if rec then
          storeOther(uuid, rec, status, payload, delay)
        else
          -- Held, but no task record (its head passed the claim's check, its rest did not: no task
          -- name, say; the broker fails such a claimed task): it ends 'error', not left 'process'.
          failMalformed(prefix, uuid, raw, now, retention, notices)
        end
      end
    end
    out[n] = stored
    if slotsHeld and freeRunningSlot(prefix, uuid, batchOf(token)) then
      slotFreed = true
    end
  end
  dropBatches(prefix, KEYS[4], { unpack(ARGV, first + 1, first + batchCount) })
  if requeued > 0 then
    wake(KEYS[3])
  end
  return table.concat(out), slotFreed
end
