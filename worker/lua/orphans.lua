-- One batch of RQ's intermediate list. An entry whose job hash is gone is removed; a job seen
-- there still queued for orphan_after_s (its worker died between taking and starting it) goes back.
--   KEYS: intermediate, queue, RQ queues, orphans
--   ARGV: orphan_after_s, RQ job prefix, fence prefix, job ids...
-- include: now.lua
-- include: requeue_front.lua

local now = redis_now()
local out = {}
for i = 4, #ARGV do
  local job_id = ARGV[i]
  local job_key = ARGV[2] .. job_id
  local status = redis.call('HGET', job_key, 'status')
  if redis.call('EXISTS', job_key) == 0 then
    redis.call('LREM', KEYS[1], 0, job_id)
    redis.call('HDEL', KEYS[4], job_id)
    table.insert(out, {job_id, 'removed'})
  elseif status ~= 'queued' then
    redis.call('HDEL', KEYS[4], job_id)
  else
    local seen = redis.call('HGET', KEYS[4], job_id)
    if not seen then
      redis.call('HSET', KEYS[4], job_id, now)
    elseif now - tonumber(seen) >= tonumber(ARGV[1]) then
      redis.call('HDEL', KEYS[4], job_id)
      if redis.call('LPOS', KEYS[1], job_id) then
        requeue_front(KEYS[2], KEYS[1], KEYS[3], job_key, job_id)
        redis.call('DEL', ARGV[3] .. job_id)
        table.insert(out, {job_id, 'orphan_requeued'})
      end
    end
  end
end
return out
