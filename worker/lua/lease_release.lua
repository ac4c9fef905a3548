-- KEYS: leases, suspects, fence   ARGV: member, ended fence TTL
-- The run's end: its lease goes, and its fence (only if still its own) expires a while later.

redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('EXPIRE', KEYS[3], ARGV[2]) end
return 1
