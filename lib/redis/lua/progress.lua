-- Progress: the running task reports how far it got; stored on its record while the caller
-- still holds the lease.
-- KEYS[1] lease hash
-- ARGV[1] key prefix, ARGV[2] uuid, ARGV[3] token, ARGV[4] progress JSON
-- Returns 1 when stored, 0 when the lease is lost.
--@include common
local key = ARGV[1] .. 't:' .. ARGV[2]
if redis.call('HGET', KEYS[1], ARGV[2]) ~= ARGV[3] then
  return 0
end
local raw = redis.call('GET', key)
local rec = raw and decodeRecord(raw)
if not rec then
  return 0
end
rec.g = ARGV[4]
rec.u = nowMs()
redis.call('SET', key, cjson.encode(rec))
return 1
