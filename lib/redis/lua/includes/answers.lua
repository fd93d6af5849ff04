-- Answers kept per caller: the client library sends a call again once reconnected when its reply
-- was lost, and a script that keeps its caller's last answers gives that call the first run's
-- answer instead of running it twice. `key` holds the caller's last two calls, newest first, one
-- `<call id> <answer>` line each: a worker has up to two claims on their way at once, and both
-- replies may be lost together. The caller makes a new call id for each call; a call sent again
-- keeps it.

-- The kept answer when `callId` is one of the caller's last calls (sent again), nil for a new
-- call; and what the key holds, for keepAnswer.
local function answerOfRepeat(key, callId)
  local kept = redis.call('GET', key)
  if not kept then
    return nil, nil
  end
  for id, answer in string.gmatch(kept, '(%S+) ([^\n]*)') do
    if id == callId then
      return answer, kept
    end
  end
  return nil, kept
end

-- Keeps this call's answer for `ttlMs`, ahead of the newest one `kept` held.
local function keepAnswer(key, kept, callId, answer, ttlMs)
  local value = callId .. ' ' .. answer
  local newest = kept and string.match(kept, '^[^\n]*')
  if newest then
    value = value .. '\n' .. newest
  end
  redis.call('SET', key, value, 'PX', ttlMs)
end
