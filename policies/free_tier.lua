-- Billing mode: free. Health checks and documentation are free; every payer also gets its first
-- 100 calls of the period free, then pays per request.
-- A free answer carries no amount (or amount 0).

local FREE_PATHS = { ["/health"] = true, ["/docs"] = true }
local FREE_CALLS = 100

function price(req)
  if FREE_PATHS[req.path] or req.method == "OPTIONS" then
    return { mode = "free" }
  end
  if req.payer.address ~= nil and req.payer.calls_this_period < FREE_CALLS then
    return { mode = "free", description = "Free tier" }
  end
  return { amount = "2000", description = "Beyond the free tier" }
end
