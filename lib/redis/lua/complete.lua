-- Complete: stores the outcome of tasks whose lease the caller still holds. A worker whose lease
-- expired (and whose task went to another worker) gets 0 back and its outcome is dropped.
-- KEYS[1] active zset, KEYS[2] lease hash
-- ARGV[1] key prefix, ARGV[2] delete finished ('1'/'0'), ARGV[3] result TTL ms (0 = keep);
-- then 4 per outcome: uuid, token, status ('success'/'error'), payload (result JSON or traceback)
-- Returns one 1 (stored) or 0 (lease lost) per outcome.
--@include common
local prefix = ARGV[1]
local now = nowMs()
local notices = {}
local out = {}
for i = 4, #ARGV, 4 do
  local uuid, token, status, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if redis.call('HGET', KEYS[2], uuid) ~= token then
    out[#out + 1] = 0
  else
    redis.call('HDEL', KEYS[2], uuid)
    redis.call('ZREM', KEYS[1], uuid)
    local raw = redis.call('GET', prefix .. 't:' .. uuid)
    local rec = raw and decodeRecord(raw)
    if rec then
      rec.s = status
      rec.u = now
      rec.f = now
      if status == 'success' then
        rec.r = payload
      else
        rec.e = payload
      end
      finish(prefix, uuid, rec, ARGV[2], ARGV[3], notices)
    end
    out[#out + 1] = 1
  end
end
notify(prefix, notices)
return out
