-- Billing mode: per request with volume tiers. The more a payer has called this merchant in the
-- current period (req.payer.calls_this_period, supplied by the gateway), the cheaper each call.
-- An unknown payer (no payment yet, req.payer.address == nil) sees the first tier's price.

local TIERS = {            -- { from this many calls, price in atomic units }
  { 0,     "10000" },      -- 0.01 USDC
  { 1000,  "8000" },       -- 0.008 USDC from the 1000th call
  { 10000, "5000" },       -- 0.005 USDC from the 10000th call
}

function price(req)
  local calls = req.payer.calls_this_period
  local amount = TIERS[1][2]
  for _, tier in ipairs(TIERS) do
    if calls >= tier[1] then amount = tier[2] end
  end
  return { amount = amount, description = "Volume tier price" }
end
