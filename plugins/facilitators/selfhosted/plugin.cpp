// The exported entry point of facilitator-selfhosted.so.
#include <x402/plugin.hpp>

#include "config.hpp"
#include "selfhosted_facilitator.hpp"

X402_PLUGIN("facilitator-selfhosted", "1.0.0",
            "Verifies EIP-3009 payments locally and settles them on chain from relayer keys",
            x402::plugins::selfhosted::kConfigSchemaJson,
            x402::plugins::selfhosted::SelfhostedFacilitator, void, void, void)
