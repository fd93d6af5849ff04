-- Refusing records that are no task records: a script that changes one task for a caller (cancel,
-- requeue) or answers with its record (watch) stops before it changes anything, with an error
-- reply the client turns into MalformedRecordError (lib/redis/scripts.ts), rather than Redis's
-- WRONGTYPE or a change made to a record the caller then cannot read.
--@include record

-- The reply refusing the record of `uuid`: `MALFORMED_RECORD ["<uuid>","<why>"]`.
local function malformedReply(uuid, why)
  return redis.error_reply('MALFORMED_RECORD ' .. cjson.encode({ uuid, why }))
end

-- The record text of `uuid` for a change a caller asked for, false when there is none; for one
-- that is no task record, false and the reply refusing it (the script returns it, changing nothing).
local function readRecordToChange(prefix, uuid)
  local raw, why = readRecordText(prefix .. 't:' .. uuid)
  if why then
    return false, malformedReply(uuid, why)
  end
  return raw, nil
end
