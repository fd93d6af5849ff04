-- Complete: stores outcomes (see includes/outcomes.lua) when the worker has no claim to make.
-- KEYS[1] priorities zset, KEYS[2] delayed zset, KEYS[3] wake-up marker list, KEYS[4] active zset
-- ARGV[1] key prefix, ARGV[2..4] retention (see readRetention), ARGV[5...] the outcomes
-- Returns a string of one '1' (stored) or '0' (lease lost) per outcome.
--@include time
--@include finish
--@include outcomes
local notices = newNotices()
local writes = {}
local out = storeOutcomes(ARGV[1], 5, nowMs(), readRetention(2), notices, writes)
callInChunks('MSET', writes)
notify(ARGV[1], notices)
return out
