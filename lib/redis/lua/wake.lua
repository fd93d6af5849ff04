-- Wake: wakes one idle worker, or the next to wait should none be idle (see includes/queue.lua).
-- A stopping worker calls it to hand over what its last claim told it alone: when the next delayed
-- task or waiting line is due.
-- KEYS[1] wake-up marker list
--@include queue
wake(KEYS[1])
