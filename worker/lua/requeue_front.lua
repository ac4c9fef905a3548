-- Included: the one way a job goes back to the front of its queue (stall, orphan, shutdown): status
-- queued, out of RQ's intermediate list, pushed only if not already on the queue, so no path can
-- enqueue a job twice even when a write is retried. A canceled job is never put back, whoever asks.
local function requeue_front(queue, intermediate, queues, job_key, job_id)
  redis.call('LREM', intermediate, 0, job_id)
  if redis.call('HGET', job_key, 'status') == 'canceled' then return end
  redis.call('HSET', job_key, 'status', 'queued')
  if not redis.call('LPOS', queue, job_id) then redis.call('LPUSH', queue, job_id) end
  redis.call('SADD', queues, queue)
end
