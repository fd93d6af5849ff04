-- Task record: one JSON string per task at <prefix>t:<uuid>, short field names to keep it small:
--   n task name, s status, p priority, a args (JSON text), c created, u updated, b started,
--   f finished, r result (JSON text), e traceback, t attempt, x cancel reason, w worker id,
--   l stalls, d run-at (delayed), g progress (JSON text), h tracebacks of earlier attempts,
--   k lease token while a worker holds the task (checked by complete, release, progress).
--   Times are Unix milliseconds.
-- Every writer keeps one key order, `{"s":<status>[,"u":<ms>][,"k":<token>],<the rest>}`, so the
-- two hot scripts (claim, complete) read and rewrite that head with string operations instead of
-- a JSON decode and encode per task, which cost more than all their Redis commands together.

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

-- The text of the record at `key`, false when there is none. A key holding another Redis type is no
-- task record: false then, and why (as lib/redis/record-text.ts words it), where a GET would stop
-- the whole script with WRONGTYPE.
local function readRecordText(key)
  local raw = redis.pcall('GET', key)
  if type(raw) == 'table' then
    return false, 'the key holds a Redis ' .. redis.call('TYPE', key).ok .. ', not a task record'
  end
  return raw, nil
end

-- The fields the scripts compute with or copy into what readers take as typed, each with the Lua
-- type it must have when present (FIELD_TYPES in lib/storages/record-codec.ts, in the same order
-- and words): a priority of "high" or an attempt of "x" would stop a whole script (a claim, a
-- recovery sweep, the outcomes of a batch) at its first ZADD or sum, for every task in it.
local FIELD_TYPES = {
  { 'p', 'number', 'priority' }, { 'c', 'number', 'creation time' }, { 'u', 'number', 'update time' },
  { 't', 'number', 'attempt' }, { 'b', 'number', 'start time' }, { 'f', 'number', 'finish time' },
  { 'd', 'number', 'run-at time' }, { 'l', 'number', 'stall count' }, { 'e', 'string', 'traceback' },
  { 'x', 'string', 'cancel reason' }, { 'w', 'string', 'worker' }, { 'k', 'string', 'lease token' },
  { 'h', 'table', 'list of earlier tracebacks' },
}
local FIELD_TYPE_WORDS = { number = 'a number', string = 'a string', table = 'a list' }

-- Why a decoded record's fields do not have their types (or it has no creation time), as
-- record-codec.ts's decodeRecord words it; nil when they do.
local function fieldFault(rec)
  if rec.c == nil then
    return 'it has no creation time ("c")'
  end
  for _, field in ipairs(FIELD_TYPES) do
    local value = rec[field[1]]
    local actual = type(value)
    -- A list decodes to a table with [1] (or to an empty one: cjson writes an empty list as `{}`).
    if actual == 'table' and next(value) ~= nil and value[1] == nil then
      actual = 'object'
    end
    if value ~= nil and actual ~= field[2] then
      return 'its ' .. field[3] .. ' ("' .. field[1] .. '") is not ' .. FIELD_TYPE_WORDS[field[2]]
    end
  end
  return nil
end

local function decodeRecord(raw)
  local ok, rec = pcall(cjson.decode, raw)
  if ok and type(rec) == 'table' and type(rec.n) == 'string' and type(rec.s) == 'string' and not fieldFault(rec) then
    return rec
  end
  return nil
end
