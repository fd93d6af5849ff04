-- Bulk commands: one MGET, MSET or DEL for many keys costs Redis far less than a call per key,
-- but Lua's unpack takes only a few thousand values at once, so long lists go in chunks.

-- Calls `command` with `args` (after `lead`, when given: a list key, say) in chunks of 1000
-- values (an even count, so MSET pairs stay whole); returns the replies of a reading command
-- joined in one list. With no `args` it sends nothing and returns an empty list.
local function callInChunks(command, args, lead)
  if #args == 0 then
    return {}
  end
  local replies
  for i = 1, #args, 1000 do
    local last = math.min(i + 999, #args)
    local reply
    if lead then
      reply = redis.call(command, lead, unpack(args, i, last))
    else
      reply = redis.call(command, unpack(args, i, last))
    end
    if i == 1 and last == #args then
      return reply
    end
    replies = replies or {}
    if type(reply) == 'table' then
      for _, value in ipairs(reply) do
        replies[#replies + 1] = value
      end
    end
  end
  return replies
end
