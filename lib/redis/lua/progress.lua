-- Progress: the running task reports how far it got; stored on its record while the caller
-- still holds the lease.
-- KEYS[1] the task's record
-- ARGV[1] lease token, ARGV[2] progress JSON
-- Returns 1 when stored, 0 when the lease is lost.
--@include time
--@include record
-- A key of another Redis type holds no lease: lost, as for a malformed record.
local raw = readRecordText(KEYS[1])
local rec = raw and decodeRecord(raw)
if not rec or rec.k ~= ARGV[1] then
  return 0
end
rec.g = ARGV[2]
rec.u = nowMs()
redis.call('SET', KEYS[1], encodeRecord(rec))
return 1
