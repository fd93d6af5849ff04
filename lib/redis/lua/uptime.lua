-- Uptime: how long the Redis that holds the app's keys has been running, in whole seconds (in a
-- cluster, the master of their slot: KEYS[1] routes the call there, and is not read).
-- KEYS[1] a key of the app
return tonumber(string.match(redis.call('INFO', 'server'), 'uptime_in_seconds:(%d+)'))
