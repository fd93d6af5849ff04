-- Answers kept per caller: the client library sends a call again once reconnected when its reply
-- was lost, and a script that keeps its caller's last answer gives that call the first run's
-- answer instead of running it twice. `key` holds `<call id> <answer>` of the caller's last call;
-- the caller makes a new call id for each call, and a call sent again keeps it.

-- The kept answer when `callId` is the caller's last call (sent again); nil for a new call.
local function answerOfRepeat(key, callId)
  local last = redis.call('GET', key)
  if not last then
    return nil
  end
  local id, answer = string.match(last, '^(%S+) (.*)$')
  if id == callId then
    return answer
  end
  return nil
end

-- Keeps this call's answer for `ttlMs`, in place of the caller's previous one.
local function keepAnswer(key, callId, answer, ttlMs)
  redis.call('SET', key, callId .. ' ' .. answer, 'PX', ttlMs)
end
