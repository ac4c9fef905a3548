-- Take the next job: an atomic LMOVE from a queue into its intermediate list (RQ's names), tried per
-- queue in priority order; or, when ARGV[7] names a job BLMOVE already moved from KEYS[1], count it.
-- Unless `rq suspend` is in force: then nothing is taken, and a job BLMOVE moved goes back to the
-- front of its queue.
--   KEYS: RQ's suspension flag, then queue, its intermediate list, queue, its intermediate list, ...
--   ARGV: takes-key prefix, takes TTL, job key prefix, size limit, queue key prefix,
--         'take' | 'count', the job id (count only)
-- Returns false (nothing), 'suspended', or {queue key, job id, takes, stored bytes, payload or
-- false, the origin it had when that named another queue or false}.
--
-- The take is counted (our key, with a TTL) and the job measured: bytes of its hash (names and
-- values) and, when within the limit, its still compressed payload. A job whose origin names another
-- queue gets the taken queue's name as origin, so its started and failed entries, lease and metrics
-- all live under a queue this worker serves and sweeps (RQ's own enqueue makes them equal).

local function counted(queue_key, job_id)
  local takes_key = ARGV[1] .. job_id
  local takes = redis.call('INCR', takes_key)
  redis.call('EXPIRE', takes_key, ARGV[2])
  local job_key = ARGV[3] .. job_id
  local taken_from = string.sub(queue_key, #ARGV[5] + 1)
  local origin = false
  if redis.call('EXISTS', job_key) == 1 then
    origin = redis.call('HGET', job_key, 'origin') or ''
    if origin == taken_from then origin = false else redis.call('HSET', job_key, 'origin', taken_from) end
  end
  local total = 0
  for _, field in ipairs(redis.call('HKEYS', job_key)) do
    total = total + #field + redis.call('HSTRLEN', job_key, field)
  end
  local data = false
  if total <= tonumber(ARGV[4]) then data = redis.call('HGET', job_key, 'data') or '' end
  return {queue_key, job_id, takes, total, data, origin}
end

local suspended = redis.call('EXISTS', KEYS[1]) == 1
if ARGV[6] == 'count' then
  if suspended then
    redis.call('LREM', KEYS[3], -1, ARGV[7])
    redis.call('LPUSH', KEYS[2], ARGV[7])
    return 'suspended'
  end
  return counted(KEYS[2], ARGV[7])
end
if suspended then return 'suspended' end
for i = 2, #KEYS, 2 do
  local job_id = redis.call('LMOVE', KEYS[i], KEYS[i + 1], 'LEFT', 'RIGHT')
  if job_id then return counted(KEYS[i], job_id) end
end
return false
