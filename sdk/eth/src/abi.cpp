#include "x402/eth/abi.hpp"

#include <algorithm>

#include "x402/eth/keccak.hpp"

namespace x402::eth {
namespace {

constexpr size_t kWord = 32;

Hash32 word_of(const U256& v) {
  return v.be;
}

Hash32 word_of_address(const Address& a) {
  Hash32 w{};
  std::copy(a.begin(), a.end(), w.begin() + 12);
  return w;
}

void append(Bytes& out, std::span<const uint8_t> data) {
  out.insert(out.end(), data.begin(), data.end());
}

}  // namespace

std::array<uint8_t, 4> selector(std::string_view signature) {
  const Hash32 h = keccak256(signature);
  return {h[0], h[1], h[2], h[3]};
}

AbiEncoder::AbiEncoder(std::string_view function_signature)
    : selector_(selector(function_signature)) {}

AbiEncoder& AbiEncoder::address(const Address& a) {
  args_.push_back({word_of_address(a), false, {}});
  return *this;
}

AbiEncoder& AbiEncoder::uint256(const U256& v) {
  args_.push_back({word_of(v), false, {}});
  return *this;
}

AbiEncoder& AbiEncoder::uint64(uint64_t v) {
  return uint256(U256::from_u64(v));
}

AbiEncoder& AbiEncoder::bytes32(const Hash32& v) {
  args_.push_back({v, false, {}});
  return *this;
}

AbiEncoder& AbiEncoder::uint8(uint8_t v) {
  return uint256(U256::from_u64(v));
}

AbiEncoder& AbiEncoder::boolean(bool v) {
  return uint256(U256::from_u64(v ? 1 : 0));
}

AbiEncoder& AbiEncoder::bytes(std::span<const uint8_t> v) {
  // Tail = length word + data right-padded with zeros to a whole number of words.
  Bytes tail;
  append(tail, word_of(U256::from_u64(v.size())));
  append(tail, v);
  tail.resize(kWord + (v.size() + kWord - 1) / kWord * kWord, 0);
  args_.push_back({Hash32{}, true, std::move(tail)});
  return *this;
}

Bytes AbiEncoder::encode() const {
  Bytes head(selector_.begin(), selector_.end());
  Bytes tails;
  // Offsets of dynamic data count from the start of the arguments (after the selector).
  const size_t head_size = args_.size() * kWord;
  for (const Arg& arg : args_) {
    if (arg.dynamic) {
      append(head, word_of(U256::from_u64(head_size + tails.size())));
      append(tails, arg.tail);
    } else {
      append(head, arg.word);
    }
  }
  append(head, tails);
  return head;
}

std::optional<U256> abi_word(std::span<const uint8_t> data, size_t index) {
  if (index >= data.size() / kWord) return std::nullopt;
  return U256::from_be(data.subspan(index * kWord, kWord));
}

std::optional<bool> abi_bool(std::span<const uint8_t> data, size_t index) {
  auto word = abi_word(data, index);
  if (!word) return std::nullopt;
  // Solidity only ever returns 0 or 1; anything else is a malformed reply, not "true".
  if (word->is_zero()) return false;
  if (*word == U256::from_u64(1)) return true;
  return std::nullopt;
}

std::optional<std::string> decode_revert_reason(std::span<const uint8_t> data) {
  constexpr std::array<uint8_t, 4> kErrorString = {0x08, 0xc3, 0x79, 0xa0};
  if (data.size() < 4 || !std::equal(kErrorString.begin(), kErrorString.end(), data.begin())) {
    return std::nullopt;
  }
  const auto args = data.subspan(4);
  // The revert data comes from an untrusted node: every offset and length is bounds-checked.
  auto offset_word = abi_word(args, 0);
  if (!offset_word) return std::nullopt;
  auto offset = offset_word->to_u64();
  if (!offset || *offset > args.size() || args.size() - *offset < kWord) return std::nullopt;
  auto length = U256::from_be(args.subspan(*offset, kWord)).to_u64();
  const size_t start = *offset + kWord;
  if (!length || *length > args.size() - start) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(args.data() + start), *length);
}

}  // namespace x402::eth
