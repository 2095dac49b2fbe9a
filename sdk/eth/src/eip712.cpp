#include "x402/eth/eip712.hpp"

#include "x402/eth/keccak.hpp"

namespace x402::eth {
namespace {

// hashStruct(s) = keccak256(typeHash ‖ encodeData(s)); every member here encodes to one word.
class StructHasher {
 public:
  explicit StructHasher(std::string_view type) { word(keccak256(type)); }
  StructHasher& word(const Hash32& w) {
    data_.insert(data_.end(), w.begin(), w.end());
    return *this;
  }
  StructHasher& address(const Address& a) {
    Hash32 w{};
    std::copy(a.begin(), a.end(), w.begin() + 12);
    return word(w);
  }
  // Dynamic string members are encoded as the hash of their contents.
  StructHasher& string(std::string_view s) { return word(keccak256(s)); }
  Hash32 hash() const { return keccak256(data_); }

 private:
  Bytes data_;
};

}  // namespace

Hash32 domain_separator(const Eip712Domain& domain) {
  return StructHasher(
             "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
      .string(domain.name)
      .string(domain.version)
      .word(U256::from_u64(domain.chain_id).be)
      .address(domain.verifying_contract)
      .hash();
}

Hash32 transfer_with_authorization_digest(const Eip712Domain& domain,
                                          const TransferAuthorization& auth) {
  const Hash32 struct_hash =
      StructHasher(
          "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,"
          "uint256 validBefore,bytes32 nonce)")
          .address(auth.from)
          .address(auth.to)
          .word(auth.value.be)
          .word(auth.valid_after.be)
          .word(auth.valid_before.be)
          .word(auth.nonce)
          .hash();
  const Hash32 separator = domain_separator(domain);
  Bytes message = {0x19, 0x01};
  message.insert(message.end(), separator.begin(), separator.end());
  message.insert(message.end(), struct_hash.begin(), struct_hash.end());
  return keccak256(message);
}

}  // namespace x402::eth
