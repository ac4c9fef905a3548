-- The shared provider budget (jobs/provider_budget.py): every decision on Redis's clock, in one script.
-- ARGV[1] names the operation: reserve, settle or leave (their ARGV below).
--
-- KEYS[1] state    hash: per unit d in {t (tokens), r (requests)}: d_limit, d_rate (per ms), d_avail,
--                  d_ts (ms), d_src (headers|config); blocked_until (ms), noheaders, cwnd, cut_at (AIMD),
--                  cpl:<name> (learned completion size), pr (prompt tokens / our estimate),
--                  epoch, tickets, wait_tokens, and the counters *_total
-- KEYS[2] waiters  zset: token -> ticket (arrival order; a call re-tried after a 429 keeps its ticket)
-- KEYS[3] leases   zset: token -> expiry (ms) of a waiter's place (renewed at every poll)
-- KEYS[4] needs    hash: token -> tokens the waiter will reserve
-- KEYS[5] calls    zset: token -> expiry (ms) of a call in flight
-- KEYS[6] usage    hash: unix minute -> tokens used in it
--
-- reserve ARGV: 2 token, 3 prompt estimate, 4 max_tokens, 5 name, 6 ticket (0: new), 7 waiter lease ms,
--   8 call lease ms, 9 LLM_TOKENS_PER_MINUTE (0: unset), 10 LLM_REQUESTS_PER_MINUTE (0: unset),
--   11 a fresh epoch id
--   -> {granted 0|1, ticket, wait hint ms, epoch, tokens reserved}
-- settle ARGV: 2 token, 3 epoch, 4 tokens reserved, 5 prompt tokens (-1: no usage), 6 completion tokens,
--   7 name, 8 HTTP status, 9 retry-after ms (-1: none), 10..12 token limit, remaining, reset ms,
--   13..15 request limit, remaining, reset ms (limit -1: header absent), 16 prompt estimate
-- leave ARGV: 2 token

-- include: now_ms.lua
local S = KEYS[1]
local DAY_MS = 86400000
local FIRST_CWND = 4  -- calls in flight AIMD starts from (no headers, no LLM_*_PER_MINUTE)
local LEARNING_CALLS = 2  -- calls in flight while nothing is known (a slow first reply must not hold all)
local MAX_AHEAD = 64  -- waiters further back than this are not considered for entry yet

local function num(field, default)
  local v = redis.call('HGET', S, field)
  if v then return tonumber(v) end
  return default
end

local function drop_waiter(token)
  local need = redis.call('HGET', KEYS[4], token)
  if need then
    redis.call('HINCRBY', S, 'wait_tokens', -tonumber(need))
    redis.call('HDEL', KEYS[4], token)
  end
  redis.call('ZREM', KEYS[2], token)
  redis.call('ZREM', KEYS[3], token)
end

-- The unit's bucket refilled up to now: avail, limit, rate (nil when the unit has no limit).
local function refill(d)
  local limit = num(d .. '_limit', nil)
  if not limit then return nil end
  local rate = num(d .. '_rate', limit / 60000)
  local avail = num(d .. '_avail', limit)
  local ts = num(d .. '_ts', now)
  avail = math.min(limit, avail + rate * math.max(0, now - ts))
  redis.call('HSET', S, d .. '_avail', avail, d .. '_ts', now)
  return avail, limit, rate
end

-- LLM_*_PER_MINUTE: the budget of a unit the provider's headers say nothing about. The bucket holds
-- ten seconds' worth: without headers we cannot know how large a burst the provider takes.
local function configure(d, per_minute)
  local rate = per_minute / 60000
  if per_minute > 0 and redis.call('HGET', S, d .. '_src') ~= 'headers' and num(d .. '_rate', 0) ~= rate then
    redis.call('HSET', S, d .. '_limit', math.max(1, per_minute / 6), d .. '_rate', rate, d .. '_src', 'config')
  end
end

-- 0 when the waiter at `rank` may call now, else a hint of how long to wait (ms).
local function admit(need, rank)
  local ta, tl, tr = refill('t')
  local ra, rl, rr = refill('r')
  if tl or rl then
    -- Deep in line: wait for the line to move (this keeps every poll's work bounded).
    if rank >= MAX_AHEAD then return 250 end
    local wait = 0
    if tl then
      local ahead = 0
      if rank > 0 then
        for _, other in ipairs(redis.call('ZRANGE', KEYS[2], 0, rank - 1)) do
          ahead = ahead + math.min(tonumber(redis.call('HGET', KEYS[4], other) or 0), tl)
        end
      end
      local want = ahead + math.min(need, tl)
      if ta < want then wait = (want - ta) / tr end
    end
    if rl and ra < rank + 1 then wait = math.max(wait, (rank + 1 - ra) / rr) end
    if wait > 0 then return math.max(1, math.ceil(wait)) end
    if tl then redis.call('HSET', S, 't_avail', ta - need) end
    if rl then redis.call('HSET', S, 'r_avail', ra - 1) end
    return 0
  end
  local flying = redis.call('ZCARD', KEYS[5])
  if redis.call('HGET', S, 'noheaders') then
    local cwnd = math.max(1, math.floor(num('cwnd', FIRST_CWND)))
    if rank < cwnd - flying then return 0 end
    return 50
  end
  -- Nothing known yet (a new budget, or Redis lost it): two calls at a time until a reply tells.
  if rank < LEARNING_CALLS - flying then return 0 end
  return 50
end

local function reserve()
  local token, name, ticket = ARGV[2], ARGV[5], tonumber(ARGV[6])
  redis.call('HSETNX', S, 'epoch', ARGV[11])
  redis.call('PEXPIRE', S, DAY_MS)
  local epoch = redis.call('HGET', S, 'epoch')
  for _, dead in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 100)) do drop_waiter(dead) end
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)
  local cpl = num('cpl:' .. name, nil)
  local completion = tonumber(ARGV[4])
  if cpl then completion = math.min(completion, math.ceil(cpl * 1.25)) end
  local need = math.ceil(tonumber(ARGV[3]) * num('pr', 1)) + completion
  local queued = redis.call('ZSCORE', KEYS[2], token)
  if queued then
    ticket = tonumber(queued)
    need = tonumber(redis.call('HGET', KEYS[4], token) or need)
  else
    if ticket <= 0 then ticket = redis.call('HINCRBY', S, 'tickets', 1) end
    redis.call('ZADD', KEYS[2], ticket, token)
    redis.call('HSET', KEYS[4], token, need)
    redis.call('HINCRBY', S, 'wait_tokens', need)
  end
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[7]), token)
  local blocked = num('blocked_until', 0)
  if now < blocked then return {0, ticket, blocked - now, epoch, need} end
  configure('t', tonumber(ARGV[9]))
  configure('r', tonumber(ARGV[10]))
  local wait = admit(need, redis.call('ZRANK', KEYS[2], token))
  if wait > 0 then return {0, ticket, wait, epoch, need} end
  drop_waiter(token)
  redis.call('ZADD', KEYS[5], now + tonumber(ARGV[8]), token)
  return {1, ticket, 0, epoch, need}
end

local function ewma(field, value)
  local old = num(field, nil)
  redis.call('HSET', S, field, old and (0.7 * old + 0.3 * value) or value)
end

local function count_usage(reserved, prompt, completion, name, same_epoch)
  redis.call('HINCRBY', S, 'prompt_tokens_total', prompt)
  redis.call('HINCRBY', S, 'completion_tokens_total', completion)
  redis.call('HINCRBY', S, 'obs_tokens', prompt + completion)
  redis.call('HSETNX', S, 'obs_since', now)
  local minute = math.floor(now / 60000)
  redis.call('HINCRBY', KEYS[6], minute, prompt + completion)
  redis.call('PEXPIRE', KEYS[6], 2 * 3600000)
  if redis.call('HLEN', KEYS[6]) > 70 then
    for _, field in ipairs(redis.call('HKEYS', KEYS[6])) do
      if tonumber(field) < minute - 60 then redis.call('HDEL', KEYS[6], field) end
    end
  end
  ewma('cpl:' .. name, completion)
  local estimate = tonumber(ARGV[16])
  if estimate > 0 and prompt > 0 then ewma('pr', math.max(0.25, math.min(4, prompt / estimate))) end
  local avail = refill('t')
  if avail and same_epoch then
    local limit = num('t_limit', 0)
    redis.call('HSET', S, 't_avail', math.min(limit, avail + reserved - prompt - completion))
  end
end

-- A reply's x-ratelimit-* figures for one unit: its limit, its refill rate and what is left.
local function learn(d, limit, remaining, reset_ms)
  if limit <= 0 then return end
  local rate = num(d .. '_rate', nil)
  if redis.call('HGET', S, d .. '_src') ~= 'headers' or not rate then rate = limit / 60000 end
  if reset_ms > 0 and limit - remaining >= limit * 0.05 then rate = (limit - remaining) / reset_ms end
  -- A fixed window's reset says little about its rate: keep it between a full bucket per second and per hour.
  rate = math.min(math.max(rate, limit / 3600000), limit / 1000)
  redis.call('HSET', S, d .. '_limit', limit, d .. '_rate', rate, d .. '_src', 'headers')
  local avail = refill(d)
  redis.call('HSET', S, d .. '_avail', math.min(avail, remaining))
end

-- AIMD (no headers, no LLM_TOKENS_PER_MINUTE): a 429 halves the calls in flight and the token rate:
-- at the first cut, the rate achieved since replies began, once there are three seconds of them (a
-- shorter span says little about a per-minute limit); ten seconds' worth may burst.
local function aimd_cut()
  redis.call('HSET', S, 'cwnd', math.max(1, num('cwnd', FIRST_CWND) / 2), 'cut_at', now)
  local src = redis.call('HGET', S, 't_src')
  if src == 'config' then return end
  local span = now - num('obs_since', now)
  local rate = nil
  if span >= 3000 and num('obs_tokens', 0) > 0 then rate = num('obs_tokens', 0) / span end
  if src == 'aimd' then rate = math.min(num('t_rate', rate or math.huge), rate or math.huge) end
  if not rate then return end
  rate = math.max(rate / 2, 0.01)
  redis.call('HSET', S, 't_rate', rate, 't_limit', rate * 10000, 't_src', 'aimd', 'aimd_step', rate * 0.01,
             'obs_tokens', 0, 'obs_since', now)
end

-- AIMD growth: each reply in time adds a hundredth of the rate set at the last cut.
local function aimd_grow()
  local cwnd = num('cwnd', FIRST_CWND)
  redis.call('HSET', S, 'cwnd', math.min(256, cwnd + 1 / cwnd))
  if redis.call('HGET', S, 't_src') == 'aimd' then
    refill('t')
    local rate = num('t_rate', 0) + num('aimd_step', 0)
    redis.call('HSET', S, 't_rate', rate, 't_limit', rate * 10000)
  end
end

local function throttled(retry_ms, headers)
  redis.call('HINCRBY', S, 'rate_limited_total', 1)
  local wait = retry_ms
  if wait < 0 then
    wait = 1000
    if tonumber(ARGV[11]) == 0 and tonumber(ARGV[12]) > 0 then wait = tonumber(ARGV[12]) end
    if tonumber(ARGV[14]) == 0 and tonumber(ARGV[15]) > 0 then wait = math.max(wait, tonumber(ARGV[15])) end
  end
  redis.call('HSET', S, 'blocked_until', math.max(num('blocked_until', 0), now + wait))
  if not headers and now - num('cut_at', 0) >= math.max(wait, 1000) then aimd_cut() end
  for _, d in ipairs({'t', 'r'}) do
    local avail = refill(d)
    if avail then redis.call('HSET', S, d .. '_avail', math.min(avail, 0)) end
  end
end

local function settle()
  local token, status = ARGV[2], tonumber(ARGV[8])
  redis.call('ZREM', KEYS[5], token)
  local same_epoch = redis.call('HGET', S, 'epoch') == ARGV[3]
  redis.call('HINCRBY', S, 'replies_total', 1)
  local prompt = tonumber(ARGV[5])
  if prompt >= 0 then count_usage(tonumber(ARGV[4]), prompt, tonumber(ARGV[6]), ARGV[7], same_epoch) end
  local headers = tonumber(ARGV[10]) > 0 or tonumber(ARGV[13]) > 0
  learn('t', tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12]))
  learn('r', tonumber(ARGV[13]), tonumber(ARGV[14]), tonumber(ARGV[15]))
  if headers then
    redis.call('HDEL', S, 'noheaders')
  elseif status == 200 or status == 429 then
    redis.call('HSET', S, 'noheaders', 1)
    if status == 200 then aimd_grow() end
  end
  if status == 429 then throttled(tonumber(ARGV[9]), headers) end
  redis.call('PEXPIRE', S, DAY_MS)
  return 0
end

local op = ARGV[1]
if op == 'reserve' then return reserve() end
if op == 'settle' then return settle() end
if op == 'leave' then
  drop_waiter(ARGV[2])
  redis.call('ZREM', KEYS[5], ARGV[2])
  return 0
end
return redis.error_reply('unknown provider budget operation ' .. tostring(op))
