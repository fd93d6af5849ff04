-- Keys a claim passes over rather than stop at (see claim.lua), kept apart from key-check.lua so
-- that the enqueue script, which refuses them instead, defines none of this.
--@include key-check

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
