-- The one requeue (worker.storage.requeue): a job goes back to the front of its queue. A started
-- job goes back only if its run still holds the fence (0 otherwise: a stale run, nothing done); a
-- job taken but never started (run '') has no run to check, and may have its take uncounted.
--   KEYS: queue list, intermediate list, set of queues, job hash, fence, takes key
--   ARGV: job id, run or '', '1' to uncount the take
-- include: requeue_front.lua

if ARGV[2] ~= '' then
  if redis.call('GET', KEYS[5]) ~= ARGV[2] then return 0 end
  redis.call('DEL', KEYS[5])
end
requeue_front(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1])
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[6]) == 1 then redis.call('DECR', KEYS[6]) end
return 1
