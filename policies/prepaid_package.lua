-- Billing mode: prepaid package. One payment buys a number of calls; the gateway keeps the
-- balance (req.payer.package_balance) and lets calls through while it lasts.
--   calls             how many calls the payment buys (bounded by the merchant's
--                     max_package_calls)
--   duration_seconds  optional: how long unused calls stay valid (default 365 days, bounded by
--                     max_package_seconds)
--   scope             optional: "route" (default: only the route it was bought on) or "merchant"
--                     (all of this merchant's routes draw on the same balance)

function price(req)
  local size = req.headers["x-package"]
  if size == "large" then
    return { mode = "package", amount = "4000000", calls = 1000, description = "1000 calls" }
  end
  if size == "trial" then
    return { mode = "package", amount = "50000", calls = 20, duration_seconds = 7 * 24 * 3600,
             scope = "merchant", description = "20 calls on any endpoint, valid for a week" }
  end
  return { mode = "package", amount = "500000", calls = 100, description = "100 calls" }
end
