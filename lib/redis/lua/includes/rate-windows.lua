-- Rate-limit windows (see waiting-lines.lua for what a full window does to a task): a window opens
-- with the first start after the last one closed; <prefix>rl:<name> holds it as a hash (n starts,
-- s start, e end, in ms) and expires when it closes. Read once per claim, written back once.
--@include key-faults

-- The window of `name`, read once per call into `windows`: { n = starts, s = start, e = end }. A
-- window key of another Redis type is noted (see key-faults.lua) and `unreadable`: it allows no
-- start, since starts counted elsewhere could not be told.
local function rateWindow(prefix, name, windows)
  local window = windows[name]
  if not window then
    local key = prefix .. 'rl:' .. name
    local stored = redis.pcall('HMGET', key, 'n', 's', 'e')
    if stored.err then
      noteKeyFault(key, 'hash')
      window = { n = 0, s = 0, e = 0, unreadable = true }
    else
      window = { n = tonumber(stored[1]) or 0, s = tonumber(stored[2]) or 0, e = tonumber(stored[3]) or 0 }
    end
    windows[name] = window
  end
  return window
end

-- Starts the window allows now (a closed one allows `max`: the next start opens a new one).
local function roomIn(window, limit, now)
  if window.unreadable then
    return 0
  end
  if window.e <= now then
    return limit.max
  end
  return limit.max - window.n
end

local function countStart(window, limit, now)
  if window.e <= now then
    window.n, window.s, window.e = 0, now, now + limit.window
  end
  window.n = window.n + 1
  window.changed = true
end

-- Stores the windows this call counted starts in; each key expires when its window closes.
local function saveRateWindows(prefix, windows)
  for name, window in pairs(windows) do
    if window.changed then
      local key = prefix .. 'rl:' .. name
      redis.call('HSET', key, 'n', window.n, 's', window.s, 'e', window.e)
      redis.call('PEXPIREAT', key, window.e)
    end
  end
end
