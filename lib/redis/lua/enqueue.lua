-- Enqueue: stores new task records and queues them (or schedules them when delayed).
-- KEYS[1] priorities zset, KEYS[2] delayed zset, KEYS[3] wake-up marker list
-- ARGV[1] key prefix; then 6 per task: uuid, priority, delay ms, unique key ('' = none),
--   unique key TTL ms, record JSON
-- Returns one uuid per task: its own, or for a duplicate unique key the uuid that holds the key.
--@include common
local prefix = ARGV[1]
local now = nowMs()
local out = {}
local created = 0
for i = 2, #ARGV, 6 do
  local uuid, priority, delay, unique = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  local holder = nil
  if unique ~= '' then
    local uniqueKey = prefix .. 'u:' .. unique
    if not redis.call('SET', uniqueKey, uuid, 'NX', 'PX', ARGV[i + 4]) then
      holder = redis.call('GET', uniqueKey)
    end
  end
  if holder then
    out[#out + 1] = holder
  else
    redis.call('SET', prefix .. 't:' .. uuid, ARGV[i + 5])
    if delay > 0 then
      redis.call('ZADD', KEYS[2], now + delay, uuid)
    else
      pushQueued(prefix, KEYS[1], priority, uuid, false)
    end
    created = created + 1
    out[#out + 1] = uuid
  end
end
-- Delayed tasks wake a worker too: an idle one then sleeps only until the new task is due.
if created > 0 then
  wake(KEYS[3])
end
return out
