#pragma once
// Solidity ABI encoding for the calls the facilitator makes (static words plus `bytes`), and
// reading words back out of eth_call results.
#include <optional>
#include <string_view>

#include "x402/eth/bytes.hpp"
#include "x402/eth/uint256.hpp"

namespace x402::eth {

// First 4 bytes of keccak256(signature), e.g. selector("balanceOf(address)") = 70a08231.
std::array<uint8_t, 4> selector(std::string_view signature);

// Builds calldata: selector + head words + tail (for dynamic `bytes`).
class AbiEncoder {
 public:
  explicit AbiEncoder(std::string_view function_signature);  // "transfer(address,uint256)"
  AbiEncoder& address(const Address& a);
  AbiEncoder& uint256(const U256& v);
  AbiEncoder& uint64(uint64_t v);
  AbiEncoder& bytes32(const Hash32& v);
  AbiEncoder& uint8(uint8_t v);
  AbiEncoder& boolean(bool v);
  AbiEncoder& bytes(std::span<const uint8_t> v);  // dynamic: offset in head, data in tail
  Bytes encode() const;

 private:
  struct Arg {
    Hash32 word{};
    bool dynamic = false;
    Bytes tail;
  };
  std::array<uint8_t, 4> selector_{};
  std::vector<Arg> args_;
};

// Word `index` (0-based) of an ABI-encoded return value; nullopt when the data is too short.
std::optional<U256> abi_word(std::span<const uint8_t> data, size_t index);
std::optional<bool> abi_bool(std::span<const uint8_t> data, size_t index);

// Decodes a revert payload Error(string) (selector 08c379a0) to its message; nullopt otherwise.
std::optional<std::string> decode_revert_reason(std::span<const uint8_t> data);

}  // namespace x402::eth
