-- End wait: ends a broker's blocking wait for work from Redis's side, by pushing to the wake-up list
-- of its own that it waits on beside the shared marker (see RedisBroker.claimAfterWait). Closing the
-- connection instead could lose the reply of a claim Redis ran behind the wait just before.
-- KEYS[1] the broker's own wake-up list
-- ARGV[1] how long a push that finds the wait already over may stay, in ms
redis.call('RPUSH', KEYS[1], '1')
redis.call('PEXPIRE', KEYS[1], ARGV[1])
