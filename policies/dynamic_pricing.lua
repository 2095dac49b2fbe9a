-- Billing mode: per request, dynamic price from the path, the query and the body size.
--   /v1/completions  0.001 USDC + 0.0001 USDC per started KiB of request body
--   /search          0.002 USDC per result requested (?limit=, 1..100, default 10)
--   anything else    0.005 USDC
-- All arithmetic stays in whole atomic units: math.floor/ceil keep every value an integer, and
-- the runtime refuses fractional amounts, so a rounding mistake fails loudly instead of
-- charging a wrong price.

local BASE = 1000          -- 0.001 USDC
local PER_KIB = 100        -- 0.0001 USDC
local PER_RESULT = 2000    -- 0.002 USDC
local DEFAULT = 5000       -- 0.005 USDC

function price(req)
  if req.path == "/v1/completions" then
    local kib = math.ceil(req.body_size / 1024)
    return { amount = BASE + kib * PER_KIB, description = "Completion, " .. kib .. " KiB" }
  end
  if req.path:match("^/search") then
    local limit = tonumber(req.query.limit) or 10
    limit = math.max(1, math.min(100, math.floor(limit)))
    return { amount = limit * PER_RESULT, description = limit .. " search results" }
  end
  return { amount = DEFAULT }
end
