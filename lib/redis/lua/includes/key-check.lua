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
