-- Fail a job by id without reading it: the one way this service fails a job itself (vetting's
-- refusals, intake's poison and oversized jobs). It writes what RQ's own failure writes, on Redis's
-- clock: status failed, ended_at, exc_info (RQ's zlib format, made in Python); the failed registry
-- scored now + TTL (+inf for a negative TTL); RQ's failure Result (fields serialized by RQ's Result
-- in Python) on the job's results stream, MAXLEN 10; the job and its results expiring with the TTL.
-- The job leaves the intermediate list and its take count goes.
--   KEYS: job hash, RQ failed registry, RQ intermediate list, takes key, RQ results stream,
--         the failing worker's RQ hash (its failed_job_count goes up) or the job hash for none
--   ARGV: job id, failure TTL, exc_info, '1' to count on the worker hash, then the Result's fields
--         as name, value pairs
-- Returns 1, or 0 when the job hash is gone (only the list entry and take count are removed).

redis.call('LREM', KEYS[3], 0, ARGV[1])
redis.call('DEL', KEYS[4])
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end

-- include: iso.lua
local t = redis.call('TIME')
local secs, micros = tonumber(t[1]), tonumber(t[2])

local ttl = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'status', 'failed', 'ended_at', iso(secs, micros), 'exc_info', ARGV[3])
redis.call('ZADD', KEYS[2], ttl < 0 and '+inf' or secs + micros / 1000000 + ttl, ARGV[1])
local result = {}
for i = 5, #ARGV do table.insert(result, ARGV[i]) end
redis.call('XADD', KEYS[5], 'MAXLEN', 10, '*', unpack(result))
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[5], ttl)
elseif ttl < 0 then
  redis.call('PERSIST', KEYS[1])
end
if ARGV[4] == '1' then redis.call('HINCRBY', KEYS[6], 'failed_job_count', 1) end
return 1
