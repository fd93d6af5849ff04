-- Release: a worker gives back tasks it holds but will not finish (it is stopping, or a batch it
-- claimed ahead found its slots still busy); they go to the head of their queue (or waiting line),
-- in the order they were claimed, without counting as a stall. A task whose cancel was asked for
-- ends 'cancel' instead. Tasks that never started leave their rate-limit window's count; each
-- frees the running slot it held (see includes/running-slots.lua).
-- KEYS[1] active zset, KEYS[2] priorities zset, KEYS[3] wake-up marker list
-- ARGV[1] key prefix, ARGV[2..4] retention (see readRetention), ARGV[5] '1' when the tasks
-- started (they stay counted), ARGV[6] number of batches whose lease ends with this call, then
-- their ids; then 2 per lease, in claim order: uuid, token
-- Returns how many tasks went back to the queue.
--@include time
--@include leases
--@include requeue
--@include running-slots

-- A held task given back unstarted leaves the count of the window it was claimed in (see
-- includes/rate-windows.lua), while that window is open; the room it leaves makes its name's
-- waiting line due now.
local function uncountStart(prefix, rec, now)
  local key = prefix .. 'rl:' .. rec.n
  local stored = redis.call('HMGET', key, 'n', 's', 'e')
  local started, opened, closes = tonumber(stored[1]), tonumber(stored[2]), tonumber(stored[3])
  if started and started > 0 and rec.b and rec.b >= opened and now < closes then
    redis.call('HINCRBY', key, 'n', -1)
    redis.call('ZADD', prefix .. 'rw', 'XX', 'LT', now, rec.n)
  end
end

local prefix = ARGV[1]
local now = nowMs()
local retention = readRetention(2)
local notices = newNotices()
local started = ARGV[5] == '1'
local batchCount = tonumber(ARGV[6])
local first = 7 + batchCount
local released = 0
local slotFreed = false
-- Last first: each goes in front of the one before it, so the claim order comes back.
for i = #ARGV - 1, first, -2 do
  local uuid = ARGV[i]
  -- A key of another Redis type is no task record: left as it is; malformed text ends 'error'
  -- (given back, it would be claimed and failed all the same).
  local rec = loadRecord(prefix, uuid, now, retention, notices)
  -- The lease ends, and the running slot it took with it (whatever became of the record).
  slotFreed = freeRunningSlot(prefix, uuid, batchOf(ARGV[i + 1])) or slotFreed
  if rec and rec.k == ARGV[i + 1] then
    if not started then
      uncountStart(prefix, rec, now)
    end
    if giveBack(prefix, KEYS[2], uuid, rec, now, retention, notices) then
      released = released + 1
    end
  end
end
dropBatches(prefix, KEYS[1], { unpack(ARGV, 7, 6 + batchCount) })
if released > 0 or slotFreed then
  wake(KEYS[3])
end
notify(prefix, notices)
return released
