-- Keys of another Redis type: a script names the first it meets, rather than stopping at Redis's
-- WRONGTYPE, which names none (and, met half-way, leaves a task in no queue).

-- The Redis type `key` holds when it is another than `expected` ('none' for a missing key is
-- fine), else nil. Called only after a command failed: no healthy call pays for it.
local function foreignType(key, expected)
  local found = redis.call('TYPE', key).ok
  if found ~= 'none' and found ~= expected then
    return found
  end
  return nil
end

-- Of `used` ({ key, the Redis type kept there } pairs), the first key holding another type, as the
-- error reply `MALFORMED_KEY ["<key>","<type>","<expected>"]` (lib/redis/scripts.ts makes it a
-- MalformedKeyError); nil when none does (a missing key is fine).
local function mistypedKeyReply(used)
  for _, pair in ipairs(used) do
    local found = foreignType(pair[1], pair[2])
    if found then
      return redis.error_reply('MALFORMED_KEY ' .. cjson.encode({ pair[1], found, pair[2] }))
    end
  end
  return nil
end

-- Keys a script passed over rather than stop at (a claim goes on with what it can), each as
-- { key, the Redis type found, what is kept there[, the hash field at fault] }: the claim's reply
-- names them, and the worker logs each as a MalformedKeyError.
local keyFaults = {}

-- Notes `key`, on which a command just failed, as holding what the engine does not keep there:
-- `expected` is a Redis type or 'integer' (a counter); `field`, a hash field holding no integer.
local function noteKeyFault(key, expected, field)
  local found = field and 'string' or redis.call('TYPE', key).ok
  keyFaults[#keyFaults + 1] = { key, found, expected, field }
end

-- Notes why a HINCRBY on `field` of the hash of counters `key` just failed: the key holds another
-- type, or the field no integer.
local function noteCounterFault(key, field)
  if foreignType(key, 'hash') then
    noteKeyFault(key, 'hash')
  else
    noteKeyFault(key, 'integer', field)
  end
end

-- keyFaults as the reply's JSON, '' when there are none.
local function keyFaultsReply()
  return #keyFaults > 0 and cjson.encode(keyFaults) or ''
end
