-- Settles every lease of one queue that two sweeps, confirm_s apart, found ended; atomically, so
-- several workers sweeping at once never requeue a job twice and a sweeper dying half-way cannot
-- leave a job in no list or registry. A job past its stall limit is failed in the same step, by
-- fail_job (fail.lua, the one failure worker.storage.fail_by_id writes too), with the failure TTL
-- every refusal uses (JOB_FAILURE_TTL), the stalled run's worker and execution in its Result.
--   KEYS: leases, suspects, RQ started registry, queue, intermediate, RQ failed registry, RQ queues
--   ARGV: max stalls, failure ttl, batch, RQ job prefix, budget prefix, confirm_s, budget ttl,
--         RQ results prefix, fence prefix, then worker.storage.failure_args: exc_info and the
--         failure Result's fields as name, value pairs
-- include: now.lua
-- include: fail.lua
-- include: requeue_front.lua

local now = redis_now()

local function fail(job_id, job_key, execution_id, worker)
  redis.call('LREM', KEYS[5], 0, job_id)
  local result = {}
  for i = 11, #ARGV do table.insert(result, ARGV[i]) end
  table.insert(result, 'worker_name'); table.insert(result, worker)
  table.insert(result, 'execution_id'); table.insert(result, execution_id)
  fail_job(job_id, job_key, KEYS[6], ARGV[8] .. job_id, tonumber(ARGV[2]), ARGV[10], result)
  redis.call('HSET', ARGV[5] .. job_id, 'failure', 'stalled')
end

local function settle(member)
  redis.call('ZREM', KEYS[1], member)
  redis.call('HDEL', KEYS[2], member)
  redis.call('ZREM', KEYS[3], member)
  local job_id, execution_id = string.match(member, '^(.*):([^:]*)$')
  if not job_id then job_id, execution_id = member, '' end
  local job_key = ARGV[4] .. job_id
  -- The run loses its fence with its lease: whatever it writes from now on is dropped.
  if redis.call('GET', ARGV[9] .. job_id) == member then redis.call('DEL', ARGV[9] .. job_id) end
  if redis.call('HGET', job_key, 'status') ~= 'started' then return {job_id, 'cleaned', 0, ''} end
  local budget = ARGV[5] .. job_id
  local stalls = redis.call('HINCRBY', budget, 'stalls', 1)
  redis.call('EXPIRE', budget, tonumber(ARGV[7]))
  local worker = redis.call('HGET', job_key, 'worker_name') or ''
  if stalls <= tonumber(ARGV[1]) then
    requeue_front(KEYS[4], KEYS[5], KEYS[7], job_key, job_id)
    return {job_id, 'requeued', stalls, worker}
  end
  fail(job_id, job_key, execution_id, worker)
  return {job_id, 'failed', stalls, worker}
end

for _, member in ipairs(redis.call('HKEYS', KEYS[2])) do
  local score = redis.call('ZSCORE', KEYS[1], member)
  if not score or tonumber(score) >= now then redis.call('HDEL', KEYS[2], member) end
end
local out = {}
local ended = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(ended) do
  local seen = redis.call('HGET', KEYS[2], member)
  if not seen then
    redis.call('HSET', KEYS[2], member, now)
  elseif now - tonumber(seen) >= tonumber(ARGV[6]) then
    table.insert(out, settle(member))
  end
end
return out
