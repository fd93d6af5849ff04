-- Renew: extends the leases the caller still holds, all of one worker's in one call.
-- KEYS[1] active zset, KEYS[2] lease hash
-- ARGV[1] lease ms; then 2 per lease: uuid, token
-- Returns the uuids whose lease is lost (expired and recovered, or the task was removed).
--@include common
local deadline = nowMs() + tonumber(ARGV[1])
local lost = {}
for i = 2, #ARGV, 2 do
  if redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[i + 1] then
    redis.call('ZADD', KEYS[1], 'XX', deadline, ARGV[i])
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
