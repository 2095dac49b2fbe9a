-- Billing mode: per request, static price.
-- Every call costs 0.01 USDC (USDC has 6 decimals, so 10000 atomic units).
-- Amounts are atomic units, given as an integer string (or an exact integer number).

function price(req)
  return { amount = "10000", description = "One API call" }
end
