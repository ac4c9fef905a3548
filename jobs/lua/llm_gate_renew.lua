-- The global model-call gate (jobs/llm_gate.py): extend the leases of the slots a process holds.
--   KEYS: holders
--   ARGV: holder lease ms, then the tokens to renew
-- Returns how many were still held (a token whose lease ran out is not brought back).
-- include: now_ms.lua

local renewed = 0
for i = 2, #ARGV do
  renewed = renewed + redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[1]), ARGV[i])
end
return renewed
