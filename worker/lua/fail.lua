-- Included: fail_job(...) -> the one failure this service writes itself, by fail_by_id (vetting's
-- refusals, intake's poison and oversized jobs) and by the stall sweep. It writes what RQ's own
-- failure writes, on Redis's clock: status failed, ended_at, exc_info (RQ's zlib format, made in
-- Python by worker.storage.failure_args); the failed registry scored now + TTL (+inf for a negative
-- TTL); RQ's failure Result (fields serialized by RQ's Result in Python) on the job's results
-- stream, MAXLEN 10; the job and its results expiring with the TTL (the job kept for a negative one).
-- include: iso.lua
local function fail_job(job_id, job_key, failed_registry, results_key, ttl, exc_info, result)
  local t = redis.call('TIME')
  local secs, micros = tonumber(t[1]), tonumber(t[2])
  redis.call('HSET', job_key, 'status', 'failed', 'ended_at', iso(secs, micros), 'exc_info', exc_info)
  redis.call('ZADD', failed_registry, ttl < 0 and '+inf' or secs + micros / 1000000 + ttl, job_id)
  redis.call('XADD', results_key, 'MAXLEN', 10, '*', unpack(result))
  if ttl > 0 then
    redis.call('EXPIRE', job_key, ttl)
    redis.call('EXPIRE', results_key, ttl)
  elseif ttl < 0 then
    redis.call('PERSIST', job_key)
  end
end
