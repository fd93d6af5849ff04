-- The server's clock, in Unix milliseconds (every script reads time from Redis, not the caller).
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
