package cluster

import goredis "github.com/redis/go-redis/v9"

// The scripts read the Redis server's clock (TIME), so that the nodes'
// clocks never have to agree. Since Redis 5 scripts replicate their
// effects, which is what makes TIME before a write allowed.

// leaseScript takes a slot of a user's cap. KEYS[1] is the user's sorted
// set of session leases, scored by expiry in milliseconds, KEYS[2] the
// user's detached answers (see answers.go); ARGV are the session id, the
// lease in milliseconds and the cap. Expired leases are dropped first; a
// session already holding one renews it (a retry after a lost reply must
// not be refused). It returns {granted, leases held, answer id, entry,
// ...}: the answers come with a granted lease, for the connected frame,
// so that authenticating stays one round trip.
var leaseScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local n = redis.call('ZCARD', KEYS[1])
  if n >= tonumber(ARGV[3]) then
    return {0, n}
  end
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local out = {1, redis.call('ZCARD', KEYS[1])}
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  local exp = tonumber(string.match(all[i + 1], '^(%d+)|'))
  if exp and exp > now then
    out[#out + 1] = all[i]
    out[#out + 1] = all[i + 1]
  else
    redis.call('HDEL', KEYS[2], all[i])
  end
end
return out
`)

// shareScript records where a detached answer runs: KEYS[1] is the user's
// answers hash, ARGV the answer id, its entry and the milliseconds left of
// its resume window. The entry is stored behind its expiry on the Redis
// server's clock; the hash lives as long as its latest entry.
var shareScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local ttl = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], (now + ttl) .. '|' .. ARGV[2])
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
`)

// locateScript reads one detached answer's entry, nil once it has expired.
var locateScript = goredis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then
  return false
end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local exp = tonumber(string.match(v, '^(%d+)|'))
if not exp or exp <= now then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return false
end
return v
`)

// renewScript extends one lease, or registers it again after Redis lost it
// (a restart, or a node back from an outage): the session is live, so it
// counts, even when that puts the user over the cap for a while. KEYS[1]
// and ARGV[1..2] as for leaseScript.
var renewScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// gateScript decides one model call: KEYS[1] is the user's rate-limit key,
// KEYS[2] their spend of the day; ARGV are the burst, the seconds between
// two tokens, and the daily budget (0: none).
//
// The budget first, so that a call refused for it spends no rate token.
// The rate limit is the generic cell rate algorithm as go-redis/redis_rate
// implements it (github.com/go-redis/redis_rate, BSD-2-Clause): the key
// holds the theoretical arrival time (TAT) of the next call; a call is
// allowed when TAT - now is within burst emission intervals, and moves TAT
// one interval on. A refusal changes nothing. It returns {allowed,
// over budget, seconds until a token as a string}: Lua numbers become
// integers on the way out.
var gateScript = goredis.NewScript(`
local budget = tonumber(ARGV[3])
if budget > 0 then
  local spent = tonumber(redis.call('GET', KEYS[2]) or '0')
  if spent >= budget then
    return {0, 1, '0'}
  end
end
local burst = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = (t[1] - 1483228800) + t[2] / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then
  tat = now
end
local next_tat = tat + interval
local allow_at = next_tat - burst * interval
if now < allow_at then
  return {0, 0, tostring(allow_at - now)}
end
redis.call('SET', KEYS[1], tostring(next_tat), 'PX', math.ceil((next_tat - now) * 1000))
return {1, 0, '0'}
`)
