-- Leases: one per claim call (a batch), not per task. Batch ids come from the counter <prefix>bn;
-- the active sorted set maps each batch id to its deadline, <prefix>lb:<batch> lists the batch's
-- uuids, and each task's token is `<batch>:<n>`, so renewing or ending a lease is one command
-- per batch.

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
