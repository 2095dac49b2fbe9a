-- Paced load: every connection waits WRK_DELAY_MS after each response before its next request,
-- so c connections offer about c * 1000 / (WRK_DELAY_MS + latency) requests per second. wrk has
-- no fixed-rate mode; bench/lib/wrk.mjs picks c for the target rate and the report shows the rate
-- actually achieved. Latency is measured from send to response, the wait excluded.
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")
local delay_ms = tonumber(os.getenv("WRK_DELAY_MS") or "10")
function delay()
  return delay_ms
end
