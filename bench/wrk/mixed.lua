-- Soak load: alternates an unpaid request to the paid route (answered 402) and a free-route request
-- (proxied to the upstream). WRK_PAID_PATH and WRK_FREE_PATH are the two paths.
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")
local paths = { os.getenv("WRK_PAID_PATH"), os.getenv("WRK_FREE_PATH") }
local n = 0
function request()
  n = n + 1
  return wrk.format("GET", paths[n % 2 + 1])
end
