-- Gives back a held task that will not run where it is (its worker died, or gave it back): to the
-- head of its queue as 'new' (of its waiting line, when tasks of its name wait in one: it was met
-- before them), or, when its cancel was asked for meanwhile, it ends 'cancel'
-- instead of running later. Returns true when it went back to the queue.
--@include record
--@include queue
--@include finish
local function giveBack(prefix, prioritiesKey, uuid, rec, now, retention, notices)
  rec.u = now
  rec.k = nil
  if rec.x ~= nil then
    rec.s = 'cancel'
    rec.f = now
    finish(prefix, uuid, rec, retention, notices)
    return false
  end
  rec.s = 'new'
  rec.w = nil
  rec.b = nil
  redis.call('SET', prefix .. 't:' .. uuid, encodeRecord(rec))
  local lineKey = prefix .. 'rp:' .. rec.n
  if redis.call('EXISTS', lineKey) == 1 then
    redis.call('LPUSH', lineKey, uuid)
  else
    pushQueued(prefix, prioritiesKey, rec.p, uuid, true)
  end
  return true
end
