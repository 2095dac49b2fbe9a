-- Paid requests: every request carries the next pre-signed payment from WRK_PAYMENTS (one base64
-- PAYMENT-SIGNATURE value per line), each used exactly once. Thread i of n takes lines i, i+n,
-- i+2n, ... so no two threads share a payment. A thread that runs out stops (and says so in the
-- JSON): that run is invalid and the driver reports it. Responses are counted by status.
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")

local payments = {}
local next_payment = 1
local path = nil
counts = {}
exhausted = 0

function init(args)
  local n = tonumber(os.getenv("WRK_THREADS") or "1")
  local i = 0
  for line in io.lines(os.getenv("WRK_PAYMENTS")) do
    if i % n == thread_id - 1 then table.insert(payments, line) end
    i = i + 1
  end
  path = wrk.path
end

function request()
  local p = payments[next_payment]
  if p == nil then
    exhausted = 1
    wrk.thread:stop()
    return wrk.format("GET", "/healthz")
  end
  next_payment = next_payment + 1
  return wrk.format("GET", path, { ["PAYMENT-SIGNATURE"] = p })
end

function response(status, headers, body)
  local k = tostring(status)
  counts[k] = (counts[k] or 0) + 1
  if status ~= 200 and first_error == nil then first_error = body:sub(1, 300) end
end

function extra_json(threads)
  local merged, ex, err = {}, 0, nil
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for k, v in pairs(c) do merged[k] = (merged[k] or 0) + v end
    ex = ex + t:get("exhausted")
    err = err or t:get("first_error")
  end
  local parts = {}
  for k, v in pairs(merged) do table.insert(parts, string.format('"%s":%d', k, v)) end
  local e = err and string.format('%q', err):gsub("\\\n", "\\n") or "null"
  return string.format(',"statuses":{%s},"exhausted_threads":%d,"first_error":%s', table.concat(parts, ","), ex, e)
end
