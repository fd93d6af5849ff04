-- Claim: promotes due delayed tasks, then takes up to ARGV[3] queued tasks, lowest priority first,
-- turning each into 'process' under a lease (deadline in the active set, token in the record).
-- KEYS[1] priorities zset, KEYS[2] delayed zset, KEYS[3] wake-up marker list,
-- KEYS[4] active zset (uuid -> lease deadline)
-- ARGV[1] key prefix, ARGV[2] worker id, ARGV[3] max tasks, ARGV[4] lease ms, ARGV[5] token prefix,
-- ARGV[6..8] retention (see readRetention; for malformed records failed here)
-- Returns { ms until the next delayed task (-1 = none), uuid, token, record, uuid, token, record, ... }
--@include common
local prefix = ARGV[1]
local now = nowMs()
local retention = readRetention(6)
local notices = {}

local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
for _, uuid in ipairs(due) do
  redis.call('ZREM', KEYS[2], uuid)
  local rec = loadRecord(prefix, uuid, now, retention, notices)
  if rec and rec.s == 'new' then
    pushQueued(prefix, KEYS[1], rec.p, uuid, false)
  end
end

local out = { -1 }
local max = tonumber(ARGV[3])
local leaseDeadline = now + tonumber(ARGV[4])
local claimed = 0
while claimed < max do
  local top = redis.call('ZRANGE', KEYS[1], 0, 0)
  if #top == 0 then
    break
  end
  local listKey = prefix .. 'q:' .. top[1]
  local wanted = max - claimed
  local uuids = redis.call('LPOP', listKey, wanted)
  if not uuids or #uuids < wanted then
    redis.call('ZREM', KEYS[1], top[1])
  end
  for _, uuid in ipairs(uuids or {}) do
    -- A missing record was deleted, a non-'new' one cancelled: both leave the queue silently.
    local rec = loadRecord(prefix, uuid, now, retention, notices)
    if rec and rec.s == 'new' then
      claimed = claimed + 1
      local token = ARGV[5] .. claimed
      rec.s = 'process'
      rec.b = now
      rec.u = now
      rec.w = ARGV[2]
      rec.k = token
      local raw = cjson.encode(rec)
      redis.call('SET', prefix .. 't:' .. uuid, raw)
      redis.call('ZADD', KEYS[4], leaseDeadline, uuid)
      out[#out + 1] = uuid
      out[#out + 1] = token
      out[#out + 1] = raw
    end
  end
end

if redis.call('ZCARD', KEYS[1]) > 0 then
  wake(KEYS[3])
end
local nextDue = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if #nextDue > 0 then
  out[1] = math.max(0, tonumber(nextDue[2]) - now)
end
notify(prefix, notices)
return out
