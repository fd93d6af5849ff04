-- Complete: stores outcomes (see includes/outcomes.lua) when the worker has no claim to make.
-- KEYS[1] priorities zset, KEYS[2] delayed zset, KEYS[3] wake-up marker list, KEYS[4] active zset
-- ARGV[1] key prefix, ARGV[2] the caller's id, ARGV[3] the call's id (new for each call),
-- ARGV[4..6] retention (see readRetention), ARGV[7...] the outcomes
-- Returns a string of one '1' (stored) or '0' (lease lost) per outcome.
--@include time
--@include finish
--@include outcomes

-- The caller's last call, `<call id> <stored flags>`. The client library sends a call again after
-- a reconnect when its reply was lost: run twice, the outcomes would find their leases ended and
-- come back '0', as if lost, though the first run stored them. The same call gets that answer.
local lastCallKey = ARGV[1] .. 'wo:' .. ARGV[2]
local lastCall = redis.call('GET', lastCallKey)
if lastCall then
  local callId, stored = string.match(lastCall, '^(%S+) (%d*)$')
  if callId == ARGV[3] then
    return stored
  end
end

local notices = newNotices()
local writes = {}
local out = storeOutcomes(ARGV[1], 7, nowMs(), readRetention(4), notices, writes)
callInChunks('MSET', writes)
-- Kept long enough for a reconnect after a long outage, one small key per caller.
redis.call('SET', lastCallKey, ARGV[3] .. ' ' .. out, 'PX', 600000)
notify(ARGV[1], notices)
return out
