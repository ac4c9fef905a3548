-- KEYS: leases, suspects, fence, then (grant only) the worker's RQ hash and the keys the start
--       of the run makes obsolete
-- ARGV: member, lease seconds, 'grant' | 'renew', fence TTL, then (grant only) the job id and the
--       worker hash's field for it (current_job, for dashboards), written in the same round trip
-- Returns 0 when a renewal finds the lease gone: a sweep took the job back. A grant makes the
-- member the job's fence and deletes the obsolete keys (the job's take count; its budget in a
-- new life), saving the run those round trips; a renewal leaves the fence untouched (a write to
-- it would abort the horse's WATCHed outcome transaction).
-- include: now.lua

if ARGV[3] == 'renew' and not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local now = redis_now()
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if ARGV[3] == 'grant' then
  redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[4])
  redis.call('HSET', KEYS[4], ARGV[6], ARGV[5])
  for i = 5, #KEYS do redis.call('DEL', KEYS[i]) end
end
return 1
