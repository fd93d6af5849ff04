-- Renew: extends the leases the caller still holds, all of one worker's in one call.
-- KEYS[1] active zset
-- ARGV[1] key prefix, ARGV[2] lease ms; then 2 per lease: uuid, token
-- Returns the uuids whose lease is lost (expired and recovered, or the task was removed).
--@include common
local prefix = ARGV[1]
local deadline = nowMs() + tonumber(ARGV[2])
local lost = {}
for i = 3, #ARGV, 2 do
  local raw = redis.call('GET', prefix .. 't:' .. ARGV[i])
  local rec = raw and decodeRecord(raw)
  if rec and rec.k == ARGV[i + 1] then
    redis.call('ZADD', KEYS[1], 'XX', deadline, ARGV[i])
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
