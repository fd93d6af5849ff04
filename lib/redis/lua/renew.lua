-- Renew: extends the batch leases the caller still holds, all of one worker's in one call.
-- KEYS[1] active zset
-- ARGV[1] lease ms; then the batch ids
-- Returns the batch ids whose lease is lost (expired and recovered elsewhere).
--@include time
local deadline = nowMs() + tonumber(ARGV[1])
local lost = {}
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], deadline, ARGV[i])
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
