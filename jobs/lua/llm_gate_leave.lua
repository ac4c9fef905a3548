-- The global model-call gate (jobs/llm_gate.py): a caller gives its slot or its place in line back.
--   KEYS: holders, waiters, waiter leases
--   ARGV: token
-- Returns 0.

redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 0
