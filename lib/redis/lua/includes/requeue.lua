-- Puts a held task back at the head of its queue as 'new' (its worker died, or is stopping).
--@include record
--@include queue
local function requeueAtHead(prefix, prioritiesKey, uuid, rec, now)
  rec.s = 'new'
  rec.u = now
  rec.w = nil
  rec.b = nil
  rec.k = nil
  redis.call('SET', prefix .. 't:' .. uuid, encodeRecord(rec))
  pushQueued(prefix, prioritiesKey, rec.p, uuid, true)
end
