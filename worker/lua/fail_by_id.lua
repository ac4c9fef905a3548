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

local t = redis.call('TIME')
local secs, micros = tonumber(t[1]), tonumber(t[2])
local function iso()
  local days = math.floor(secs / 86400)
  local rem = secs - days * 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%06dZ', y, m, d,
    math.floor(rem / 3600), math.floor((rem % 3600) / 60), rem % 60, micros)
end

local ttl = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'status', 'failed', 'ended_at', iso(), 'exc_info', ARGV[3])
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
