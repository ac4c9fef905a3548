-- Included: redis_now() -> Redis TIME as seconds (float), and its seconds and microseconds.
local function redis_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000, tonumber(t[1]), tonumber(t[2])
end
