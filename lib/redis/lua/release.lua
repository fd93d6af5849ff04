-- Release: a stopping worker gives back tasks it could not finish in its grace time; they go to
-- the head of their queue, without counting as a stall.
-- KEYS[1] active zset, KEYS[2] priorities zset, KEYS[3] wake-up marker list
-- ARGV[1] key prefix, ARGV[2] number of batches whose lease ends with this call, then their ids;
-- then 2 per lease: uuid, token
-- Returns how many tasks went back to the queue.
--@include time
--@include leases
--@include record
--@include requeue
local prefix = ARGV[1]
local now = nowMs()
local batchCount = tonumber(ARGV[2])
local released = 0
for i = 3 + batchCount, #ARGV, 2 do
  local uuid = ARGV[i]
  local raw = redis.call('GET', prefix .. 't:' .. uuid)
  local rec = raw and decodeRecord(raw)
  if rec and rec.k == ARGV[i + 1] then
    requeueAtHead(prefix, KEYS[2], uuid, rec, now)
    released = released + 1
  end
end
dropBatches(prefix, KEYS[1], { unpack(ARGV, 3, 2 + batchCount) })
if released > 0 then
  wake(KEYS[3])
end
return released
