#include "config/config.hpp"

namespace x402 {

const MerchantConfig* Config::find_merchant(std::string_view id) const {
  for (const MerchantConfig& merchant : merchants) {
    if (merchant.id == id) return &merchant;
  }
  return nullptr;
}

const AssetConfig* Config::find_asset(std::string_view symbol, const Network& network) const {
  for (const auto& asset : assets) {
    if (asset->symbol == symbol && asset->network.chain_id == network.chain_id) return asset.get();
  }
  return nullptr;
}

}  // namespace x402
