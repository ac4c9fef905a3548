-- Single flight (jobs/singleflight.py): release the generation lock a job held, its work horse killed.
--   KEYS: the job's lock-holder record (hash: lock = the lock's key, token = the holder's token)
--   ARGV: none
-- Deletes the record, and the lock it names only while that lock still holds the recorded token
-- (a later holder's lock is left alone). Returns 1 when a lock was deleted, else 0.

local held = redis.call('HMGET', KEYS[1], 'lock', 'token')
redis.call('DEL', KEYS[1])
if not held[1] then return 0 end
if redis.call('GET', held[1]) == held[2] then return redis.call('DEL', held[1]) end
return 0
