#pragma once
// The shared-cache side of the GCRA: one atomic Redis script per check, the same step as
// gcra_step() with the time from Redis itself so every gateway node agrees on the clock (Redis 7
// replicates script effects, so TIME is allowed).
//   KEYS[1] = the client's cell ("<scope>|<key>", namespaced per instance by the host)
//   ARGV[1] = interval_us, ARGV[2] = tolerance_us
//   reply   = {allowed 0|1, remaining, reset_us, retry_after_us} (integers)
// Lua numbers are doubles: exact for integers below 2^53 µs (config bounds keep TATs there), and
// formatted with %.0f so that a large TAT is never stored as "1.7e+15".
namespace x402::plugins::ratelimit_token_bucket {

inline constexpr const char* kGcraScript = R"lua(
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then
  local t = tonumber(stored)
  if t and t > now then tat = t end
end
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if now < allow_at then
  return {0, 0, tat - now, allow_at - now}
end
local ttl_ms = math.ceil((new_tat - now) / 1000)
if ttl_ms < 1 then ttl_ms = 1 end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', string.format('%.0f', ttl_ms))
return {1, math.floor((now - allow_at) / interval), new_tat - now, 0}
)lua";

}  // namespace x402::plugins::ratelimit_token_bucket
