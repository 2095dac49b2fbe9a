-- Billing mode: time pass. Paying once buys access for a period; the gateway issues a signed,
-- expiring credential bound to the payer and the merchant, and requests that carry it are not
-- priced again until it expires.
--   duration_seconds  how long the pass lasts (bounded by the merchant's max_pass_seconds)
--   scope             "route" (default: only the route it was bought on) or "merchant" (all of
--                     this merchant's routes)

function price(req)
  if req.query.pass == "day" then
    return { mode = "time_pass", amount = "500000", duration_seconds = 24 * 3600,
             scope = "merchant", description = "Day pass, all endpoints" }
  end
  return { mode = "time_pass", amount = "50000", duration_seconds = 3600,
           description = "One hour of access" }
end
