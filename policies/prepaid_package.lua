-- Billing mode: prepaid package. One payment buys a number of calls; the gateway keeps the
-- balance (req.payer.package_balance) and lets calls through while it lasts.
--   calls   how many calls the payment buys (bounded by the merchant's max_package_calls)

function price(req)
  if req.headers["x-package"] == "large" then
    return { mode = "package", amount = "4000000", calls = 1000, description = "1000 calls" }
  end
  return { mode = "package", amount = "500000", calls = 100, description = "100 calls" }
end
