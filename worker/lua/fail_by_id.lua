-- Fail a job by id without reading it (worker.storage.fail_by_id): the job leaves the intermediate
-- list, its take count goes, and fail_job (fail.lua) writes RQ's failure.
--   KEYS: job hash, RQ failed registry, RQ intermediate list, takes key, RQ results stream,
--         the failing worker's RQ hash (its failed_job_count goes up) or the job hash for none
--   ARGV: job id, failure TTL, '1' to count on the worker hash, exc_info, then the Result's fields
--         as name, value pairs
-- Returns 1, or 0 when the job hash is gone (only the list entry and take count are removed).
-- include: fail.lua

redis.call('LREM', KEYS[3], 0, ARGV[1])
redis.call('DEL', KEYS[4])
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end

local result = {}
for i = 5, #ARGV do table.insert(result, ARGV[i]) end
fail_job(ARGV[1], KEYS[1], KEYS[2], KEYS[5], tonumber(ARGV[2]), ARGV[4], result)
if ARGV[3] == '1' then redis.call('HINCRBY', KEYS[6], 'failed_job_count', 1) end
return 1
