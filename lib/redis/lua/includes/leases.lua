-- Leases: one per claim call (a batch), not per task. Batch ids come from the counter <prefix>bn;
-- the active sorted set maps each batch id to its deadline, <prefix>lb:<batch> lists the batch's
-- uuids, and each task's token is `<batch>:<n>`, so renewing or ending a lease is one command
-- per batch.
--@include record
--@include queue

-- The batch (lease) a token belongs to: tokens are `<batch>:<n>`.
local function batchOf(token)
  return string.match(token, '^(.*):%d+$')
end

-- Ends batch leases whose tasks are all settled: their deadline and their uuid list go.
local function dropBatches(prefix, activeKey, batches)
  for _, batch in ipairs(batches) do
    redis.call('ZREM', activeKey, batch)
    redis.call('DEL', prefix .. 'lb:' .. batch)
  end
end

-- Puts a held task back at the head of its queue as 'new' (its worker died, or is stopping).
local function requeueAtHead(prefix, prioritiesKey, uuid, rec, now)
  rec.s = 'new'
  rec.u = now
  rec.w = nil
  rec.b = nil
  rec.k = nil
  redis.call('SET', prefix .. 't:' .. uuid, encodeRecord(rec))
  pushQueued(prefix, prioritiesKey, rec.p, uuid, true)
end
