-- KEYS: queue list, intermediate list, set of queues, job hash, fence   ARGV: job id, run or ''
-- A started job goes back only if its run still holds the fence (0 otherwise: a stale run,
-- nothing done); a job taken but never started (run '') has no run to check.
-- include: requeue_front.lua

if ARGV[2] ~= '' then
  if redis.call('GET', KEYS[5]) ~= ARGV[2] then return 0 end
  redis.call('DEL', KEYS[5])
end
requeue_front(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1])
return 1
