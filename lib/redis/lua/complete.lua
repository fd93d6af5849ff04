-- Complete: stores outcomes (see includes/outcomes.lua) when the worker has no claim to make.
-- KEYS[1] priorities zset, KEYS[2] delayed zset, KEYS[3] wake-up marker list, KEYS[4] active zset
-- ARGV[1] key prefix, ARGV[2] the caller's id, ARGV[3] the call's id (new for each call),
-- ARGV[4..6] retention (see readRetention), ARGV[7...] the outcomes
-- Returns a string of one '1' (stored) or '0' (lease lost) per outcome.
--@include time
--@include finish
--@include outcomes
--@include answers

-- The caller's last answers, their stored flags (see includes/answers.lua): run twice, a call sent
-- again would find its leases ended and answer '0', as if lost, though the first run stored them.
local answerKey = ARGV[1] .. 'wo:' .. ARGV[2]
local repeated, kept = answerOfRepeat(answerKey, ARGV[3])
if repeated then
  return repeated
end

local notices = newNotices()
local writes = {}
local out, slotFreed = storeOutcomes(ARGV[1], 7, nowMs(), readRetention(4), notices, writes)
callInChunks('MSET', writes)
-- Tasks wait for the slot an outcome freed: an idle worker starts them.
if slotFreed then
  wake(KEYS[3])
end
-- Kept long enough for a reconnect after a long outage: one small key per caller.
keepAnswer(answerKey, kept, ARGV[3], out, 600000)
notify(ARGV[1], notices)
return out
