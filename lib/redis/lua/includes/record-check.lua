-- Refusing records that are no task records: a script that changes one task for a caller (cancel,
-- requeue) or answers with its record (watch) stops before it changes anything, with an error
-- reply the client turns into MalformedRecordError (lib/redis/scripts.ts), rather than Redis's
-- WRONGTYPE or a change made to a record the caller then cannot read.
--@include record

-- The reply refusing the record of `uuid`: `MALFORMED_RECORD ["<uuid>","<why>"]`.
local function malformedReply(uuid, why)
  return redis.error_reply('MALFORMED_RECORD ' .. cjson.encode({ uuid, why }))
end

-- The statuses a record may have (TASK_STATUSES in lib/core/task-record.ts).
local STATUSES = { new = true, process = true, success = true, error = true, cancel = true }
-- The fields holding JSON text besides the arguments, in the order and words of record-codec.ts's
-- decodeRecord.
local JSON_FIELDS = { { 'r', 'its result is' }, { 'g', 'its progress is' } }

-- Why the arguments field `a` is no argument list, as decodeRecord's storedArgs words it; nil when
-- it is one (or absent: no arguments). A list is JSON text starting with `[`: cjson decodes `{}`
-- and `[]` alike.
local function argsFault(a)
  if a == nil then
    return nil
  elseif type(a) ~= 'string' then
    return 'its arguments are not a JSON list: ' .. string.sub(cjson.encode(a), 1, 80)
  elseif not pcall(cjson.decode, a) then
    return 'its arguments are not JSON'
  elseif not string.find(a, '^%s*%[') then
    return 'its arguments are not a JSON list: ' .. string.sub(a, 1, 80)
  end
  return nil
end

-- Why the record text `raw` is no task record, as record-codec.ts's decodeRecord words it (the
-- caller decodes the reply with it); nil when it is one. Decodes the JSON text fields too: a
-- change is asked for one task at a time, never on a hot path.
local function recordFault(raw)
  local ok, rec = pcall(cjson.decode, raw)
  if not ok then
    return 'not JSON: ' .. string.sub(raw, 1, 80)
  elseif type(rec) ~= 'table' then
    return 'not an object'
  elseif type(rec.n) ~= 'string' then
    return 'no task name'
  elseif not STATUSES[rec.s] then
    return 'unknown status "' .. tostring(rec.s) .. '"'
  end
  local fault = argsFault(rec.a) or fieldFault(rec)
  if fault then
    return fault
  end
  for _, field in ipairs(JSON_FIELDS) do
    local text = rec[field[1]]
    if type(text) == 'table' or (type(text) == 'string' and not pcall(cjson.decode, text)) then
      return field[2] .. ' not JSON'
    end
  end
  return nil
end

-- The record text of `uuid` for a change a caller asked for, false when there is none; for one
-- that is no task record (another Redis type, or text the codec refuses), false and the reply
-- refusing it (the script returns it, having changed nothing).
local function readRecordToChange(prefix, uuid)
  local raw, why = readRecordText(prefix .. 't:' .. uuid)
  why = why or (raw and recordFault(raw))
  if why then
    return false, malformedReply(uuid, why)
  end
  return raw, nil
end
