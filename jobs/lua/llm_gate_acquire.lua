-- The global model-call gate (jobs/llm_gate.py): let a caller in, first come, first served.
--   KEYS: holders, waiters, waiter leases, tickets
--   ARGV: limit, holder lease ms, waiter lease ms, token
-- Returns 1 when the token now holds a slot (leased for the holder lease), 0 when it waits: it
-- keeps (or takes) its ticket in line and its place is renewed for the waiter lease. Expired
-- holders and waiters that stopped polling are dropped first.
-- include: now_ms.lua

local limit, lease, wait_lease, token = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 100)
for _, dead in ipairs(gone) do
  redis.call('ZREM', KEYS[2], dead)
  redis.call('ZREM', KEYS[3], dead)
end
if not redis.call('ZSCORE', KEYS[2], token) then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), token)
end
local rank = redis.call('ZRANK', KEYS[2], token)
if rank < limit - redis.call('ZCARD', KEYS[1]) then
  redis.call('ZREM', KEYS[2], token)
  redis.call('ZREM', KEYS[3], token)
  redis.call('ZADD', KEYS[1], now + lease, token)
  return 1
end
redis.call('ZADD', KEYS[3], now + wait_lease, token)
return 0
