-- KEYS: our watch hash, then RQ's scheduler lock of each queue
-- ARGV: RQ scheduler hash prefix, stale seconds
-- Returns the lock keys that are free now (never held, or a dead holder's, deleted here).

local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local free = {}
for i = 2, #KEYS do
  local lock = KEYS[i]
  local holder = redis.call('GET', lock)
  if not holder then
    redis.call('HDEL', KEYS[1], lock)
    table.insert(free, lock)
  else
    local mark = holder .. '|' .. (redis.call('HGET', ARGV[1] .. holder, 'last_heartbeat') or '') .. '|'
    local seen = redis.call('HGET', KEYS[1], lock)
    if not seen or string.sub(seen, 1, #mark) ~= mark then
      redis.call('HSET', KEYS[1], lock, mark .. now)
    elseif now - tonumber(string.sub(seen, #mark + 1)) >= tonumber(ARGV[2]) then
      redis.call('DEL', lock)
      redis.call('HDEL', KEYS[1], lock)
      table.insert(free, lock)
    end
  end
end
redis.call('EXPIRE', KEYS[1], 3600)
return free
