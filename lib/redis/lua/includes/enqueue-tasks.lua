-- The body of enqueue.lua (see there for its KEYS, ARGV and reply), shared with
-- enqueue-before.lua, which checks its deadline first.
--@include time
--@include queue
--@include key-check
local prefix = ARGV[1]
local now -- read only for delayed tasks: a call less for the usual enqueue
local out = {}
local created = 0
-- A command that can fail part-way (a queue key holding another Redis type, say) is a pcall, whose
-- error is returned as a table: `failure` then, and what the call stored is taken back below. What
-- it stored is noted as it goes, with no Redis command and no table for the usual add: the last
-- task whose record it stored (ARGV index), those before it whose record it did not store (a
-- duplicate unique key, or the call sent again), and the unique keys it took. (SET NX cannot fail.)
-- The keys the failed step used, each with the Redis type kept there: the reply names the one of
-- another type, if any.
local failure, failedKeys
local storedUpTo, notStored, takenKeys = 1, nil, nil
for i = 2, #ARGV do
  local task = ARGV[i]
  local uuid, priority, delay, uniqueTtl, uniqueLength, rest =
    string.match(task, '^(%S+) (%S+) (%S+) (%S+) (%d+) ()')
  delay = tonumber(delay)
  local recordAt = rest + tonumber(uniqueLength)
  local holder = nil
  if recordAt > rest then
    local uniqueKey = prefix .. 'u:' .. string.sub(task, rest, recordAt - 1)
    if redis.call('SET', uniqueKey, uuid, 'NX', 'PX', uniqueTtl) then
      takenKeys = takenKeys or {}
      takenKeys[#takenKeys + 1] = uniqueKey
    else
      holder = redis.pcall('GET', uniqueKey)
      if type(holder) == 'table' then
        failure, failedKeys = holder, { { uniqueKey, 'string' } }
        break
      end
    end
  end
  if holder then
    out[#out + 1] = holder
  else
    -- NX: a record under this (random) uuid means this call ran before and its reply was lost
    -- (the client sends it again after a reconnect); queueing it again would run the task twice.
    if redis.call('SET', prefix .. 't:' .. uuid, string.sub(task, recordAt), 'NX') then
      storedUpTo = i
      local queued
      if delay > 0 then
        now = now or nowMs()
        queued = scheduleDelayed(KEYS[2], now + delay, uuid, redis.pcall)
      else
        queued = pushQueued(prefix, KEYS[1], priority, uuid, false, redis.pcall)
      end
      if type(queued) == 'table' then
        failure = queued
        -- Built on failure only: every add passes here.
        failedKeys = delay > 0 and { { KEYS[2], 'zset' } } or { { prefix .. 'q:' .. priority, 'list' }, { KEYS[1], 'zset' } }
        break
      end
      created = created + 1
    end
    out[#out + 1] = uuid
  end
  if storedUpTo ~= i then
    notStored = notStored or {}
    notStored[i] = true
  end
end
-- Delayed tasks wake a worker too: an idle one then sleeps only until the new task is due.
if not failure and created > 0 then
  local woken = wake(KEYS[3], redis.pcall)
  if type(woken) == 'table' then
    failure, failedKeys = woken, { { KEYS[3], 'list' } }
  end
end
if not failure then
  return table.concat(out, ' ')
end
-- Take back what this call stored, last first. Any step may meet the key that failed, so each is
-- a pcall too: none may stop the others.
for i = storedUpTo, 2, -1 do
  if not (notStored and notStored[i]) then
    local uuid, priority, delay = string.match(ARGV[i], '^(%S+) (%S+) (%S+) ')
    redis.pcall('DEL', prefix .. 't:' .. uuid)
    if tonumber(delay) > 0 then
      redis.pcall('ZREM', KEYS[2], uuid)
    else
      -- Pushed at the tail, and nothing ran since: the last of its list's entries.
      local listKey = prefix .. 'q:' .. priority
      redis.pcall('LREM', listKey, -1, uuid)
      if redis.pcall('LLEN', listKey) == 0 then
        redis.pcall('ZREM', KEYS[1], priority)
      end
    end
  end
end
for _, uniqueKey in ipairs(takenKeys or {}) do
  redis.pcall('DEL', uniqueKey)
end
return mistypedKeyReply(failedKeys) or failure
