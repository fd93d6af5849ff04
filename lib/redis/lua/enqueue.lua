-- Enqueue: stores new task records and queues them (or schedules them when delayed).
-- KEYS[1] priorities zset, KEYS[2] delayed zset, KEYS[3] wake-up marker list
-- ARGV[1] key prefix; then one value per task (one, not six: the client library's cost is per
-- value): `<uuid> <priority> <delay ms> <unique key TTL ms> <unique key length in bytes> `
-- followed by the unique key (may be empty) and the record JSON.
-- Returns one uuid per task, joined by spaces: its own, or for a duplicate unique key the uuid
-- that holds the key, or '' for the tick of a removed timer schedule (nothing is enqueued).
-- Unique keys `timer:<schedule>:<tick ms>` are a timer's ticks: while the schedule's run hash
-- (<prefix>tr:<schedule>) holds `r`, set when any instance removed it, no instance enqueues them.
--@include time
--@include queue
local prefix = ARGV[1]
local now -- read only for delayed tasks: a call less for the usual enqueue
local out = {}
local created = 0
for i = 2, #ARGV do
  local task = ARGV[i]
  local uuid, priority, delay, uniqueTtl, uniqueLength, rest =
    string.match(task, '^(%S+) (%S+) (%S+) (%S+) (%d+) ()')
  delay = tonumber(delay)
  local recordAt = rest + tonumber(uniqueLength)
  local holder = nil
  if recordAt > rest then
    local given = string.sub(task, rest, recordAt - 1)
    local schedule = string.match(given, '^timer:(.+):%d+$')
    if schedule and redis.call('HEXISTS', prefix .. 'tr:' .. schedule, 'r') == 1 then
      holder = ''
    else
      local uniqueKey = prefix .. 'u:' .. given
      if not redis.call('SET', uniqueKey, uuid, 'NX', 'PX', uniqueTtl) then
        holder = redis.call('GET', uniqueKey)
      end
    end
  end
  if holder then
    out[#out + 1] = holder
  else
    -- NX: a record under this (random) uuid means this call ran before and its reply was lost
    -- (the client sends it again after a reconnect); queueing it again would run the task twice.
    if redis.call('SET', prefix .. 't:' .. uuid, string.sub(task, recordAt), 'NX') then
      if delay > 0 then
        now = now or nowMs()
        redis.call('ZADD', KEYS[2], now + delay, uuid)
      else
        pushQueued(prefix, KEYS[1], priority, uuid, false)
      end
      created = created + 1
    end
    out[#out + 1] = uuid
  end
end
-- Delayed tasks wake a worker too: an idle one then sleeps only until the new task is due.
if created > 0 then
  wake(KEYS[3])
end
return table.concat(out, ' ')
