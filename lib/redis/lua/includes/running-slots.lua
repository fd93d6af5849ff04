-- Running slots (waiting-lines.lua says what a claim does with a task whose slots are all held): a
-- task with maxRunning holds one of its name's slots from its claim until its lease ends (its
-- outcome is stored, it is given back, or its lease expires and it is recovered), across every
-- worker.
-- <prefix>rs maps each slot holder's uuid to `<batch> <name>`: whatever ends a lease frees the slot
-- without being told the name, and only the lease that took a slot frees it (a late caller whose
-- task another claim holds now frees nothing); <prefix>rc counts the holders of each name.
-- A count that cannot be read (rc of another Redis type, or a count holding no integer) is noted
-- (see key-faults.lua) and left as it is: its name starts no task until it is mended, since a slot
-- taken past an unknown count could run more than maxRunning at once.
--@include key-faults

-- A count as a limit compares it: an integer (HINCRBY's range, 18 digits at most), else nil.
local function slotCount(stored)
  if #stored <= 18 and string.match(stored, '^%-?%d+$') then
    return tonumber(stored)
  end
  return nil
end

-- Holders of `name`, read once per call into `counts`.
local function runningCount(prefix, name, counts)
  local count = counts[name]
  if not count then
    local stored = redis.pcall('HGET', prefix .. 'rc', name)
    if type(stored) == 'table' then
      noteCounterFault(prefix .. 'rc', name)
    elseif stored then
      count = slotCount(stored)
      if not count then
        noteCounterFault(prefix .. 'rc', name)
      end
    else
      count = 0
    end
    -- Unreadable: as if every slot were held.
    count = count or math.huge
    counts[name] = count
  end
  return count
end

-- Takes a slot of `name` for `uuid`; false (noted, nothing taken) when the holders' hash is of
-- another Redis type: a slot no lease end could free.
local function takeRunningSlot(prefix, name, uuid, batch, counts)
  if type(redis.pcall('HSET', prefix .. 'rs', uuid, batch .. ' ' .. name)) == 'table' then
    noteKeyFault(prefix .. 'rs', 'hash')
    return false
  end
  counts[name] = runningCount(prefix, name, counts) + 1
  redis.call('HINCRBY', prefix .. 'rc', name, 1)
  return true
end

-- Whether any task holds a slot: one read per call, so a lease end looks a task up only then.
local function anySlotHeld(prefix)
  return redis.call('EXISTS', prefix .. 'rs') == 1
end

-- Frees the slot `uuid` holds under the lease of `batch`, if any. Tasks of its name waiting for a
-- slot are due at once (unless their task is paused): true then, and the caller wakes an idle worker.
local function freeRunningSlot(prefix, uuid, batch)
  local holder = redis.pcall('HGET', prefix .. 'rs', uuid)
  if type(holder) == 'table' then
    noteKeyFault(prefix .. 'rs', 'hash')
    return false
  end
  local holderBatch, name = string.match(holder or '', '^(%S+) (.*)$')
  if not name or holderBatch ~= batch then
    return false
  end
  redis.call('HDEL', prefix .. 'rs', uuid)
  -- A count that cannot be counted down is left as it is: the outcome is stored all the same.
  local left = redis.pcall('HINCRBY', prefix .. 'rc', name, -1)
  if type(left) == 'table' then
    noteCounterFault(prefix .. 'rc', name)
    return false
  end
  if left <= 0 then
    redis.call('HDEL', prefix .. 'rc', name)
  end
  if redis.call('EXISTS', prefix .. 'rp:' .. name) == 0 or redis.call('SISMEMBER', prefix .. 'ps', name) == 1 then
    return false
  end
  -- A line schedule of another Redis type (noted) wakes no one: claims do not read the lines then.
  if type(redis.pcall('ZADD', prefix .. 'rw', 'LT', 0, name)) == 'table' then
    noteKeyFault(prefix .. 'rw', 'zset')
    return false
  end
  return true
end
