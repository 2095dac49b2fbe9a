#include "verifier.hpp"

#include <x402/eth/abi.hpp>
#include <x402/eth/secp256k1.hpp>

#include "networks.hpp"

namespace x402::plugins::selfhosted {

namespace {

Verdict invalid(std::string_view reason, std::string message, std::string payer = {}) {
  return Verdict{false, std::string(reason), std::move(message), std::move(payer)};
}

const json::object* object_at(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_object() ? &v->get_object() : nullptr;
}

std::optional<std::string> string_at(const json::object* o, std::string_view key) {
  if (!o) return std::nullopt;
  const auto* v = o->if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(v->get_string());
}

std::optional<uint32_t> version_at(const json::object& o) {
  const auto* v = o.if_contains("x402Version");
  if (v && v->is_int64() && v->get_int64() >= 0 && v->get_int64() < 1000)
    return static_cast<uint32_t>(v->get_int64());
  return std::nullopt;
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

}  // namespace

std::string Verdict::to_json() const {
  json::object o{{"isValid", valid}};
  if (!valid) {
    o["invalidReason"] = reason;
    if (!message.empty()) o["invalidMessage"] = message;
  }
  if (!payer.empty()) o["payer"] = payer;
  return json::serialize(o);
}

std::string Payment::job_id() const {
  return std::to_string(domain.chain_id) + ":" + eth::to_hex(domain.verifying_contract) + ":" +
         payer + ":" + eth::to_hex(auth.nonce);
}

LocalCheck check_locally(std::string_view request_json, const VerifyPolicy& policy,
                         uint64_t now_seconds) {
  LocalCheck out;
  boost::system::error_code ec;
  json::value root = json::parse(request_json, ec);
  if (ec || !root.is_object()) {
    out.verdict = invalid(reason::kInvalidPayload, "request is not a JSON object");
    return out;
  }
  const auto& r = root.get_object();
  const auto* payload = object_at(r, "paymentPayload");
  const auto* req = object_at(r, "paymentRequirements");
  if (!payload || !req) {
    out.verdict = invalid(reason::kInvalidPayload, "paymentPayload and paymentRequirements needed");
    return out;
  }
  auto version = version_at(r);
  if (!version) version = version_at(*payload);
  if (!version || (*version != 1 && *version != 2)) {
    out.verdict = invalid(reason::kInvalidVersion, "x402Version must be 1 or 2");
    return out;
  }

  // The authorization first: every later verdict names the payer.
  const auto* inner = object_at(*payload, "payload");
  const auto* authz = inner ? object_at(*inner, "authorization") : nullptr;
  if (!authz) {
    out.verdict = invalid(reason::kInvalidPayload, "paymentPayload.payload.authorization missing");
    return out;
  }
  Payment p;
  p.x402_version = *version;
  auto field = [&](std::string_view key) { return string_at(authz, key); };
  auto from = field("from");
  auto from_address = from ? eth::parse_address(*from) : std::nullopt;
  if (!from_address) {
    out.verdict = invalid(reason::kInvalidPayload, "authorization.from is not an address");
    return out;
  }
  p.auth.from = *from_address;
  p.payer = eth::to_hex(p.auth.from);
  auto bad = [&](std::string_view why, std::string message) {
    out.verdict = invalid(why, std::move(message), p.payer);
    return out;
  };

  auto to = field("to");
  auto to_address = to ? eth::parse_address(*to) : std::nullopt;
  if (!to_address) return bad(reason::kInvalidPayload, "authorization.to is not an address");
  p.auth.to = *to_address;
  struct Num {
    const char* key;
    eth::U256* out;
  };
  for (Num n : {Num{"value", &p.auth.value}, Num{"validAfter", &p.auth.valid_after},
                Num{"validBefore", &p.auth.valid_before}}) {
    auto text = field(n.key);
    auto value = text ? eth::U256::from_decimal(*text) : std::nullopt;
    if (!value)
      return bad(reason::kInvalidPayload,
                 std::string("authorization.") + n.key + " must be a decimal integer string");
    *n.out = *value;
  }
  auto nonce_text = field("nonce");
  auto nonce =
      nonce_text && nonce_text->size() == 66 ? eth::parse_hash32(*nonce_text) : std::nullopt;
  if (!nonce) return bad(reason::kInvalidPayload, "authorization.nonce must be 32 bytes of hex");
  p.auth.nonce = *nonce;
  auto sig_text = string_at(inner, "signature");
  auto sig = sig_text && sig_text->rfind("0x", 0) == 0 ? eth::from_hex(*sig_text) : std::nullopt;
  if (!sig) return bad(reason::kSignatureFormat, "signature must be 0x-prefixed hex");
  if (sig->size() != 65)
    return bad(reason::kSignatureFormat,
               "signature must be 65 bytes (smart-wallet signatures are not supported)");

  // Requirements: scheme, network, asset, domain.
  auto scheme = string_at(req, "scheme");
  const json::object* accepted = object_at(*payload, "accepted");
  auto payload_scheme =
      *version == 1 ? string_at(payload, "scheme") : string_at(accepted, "scheme");
  if (scheme != "exact" || (payload_scheme && payload_scheme != "exact"))
    return bad(reason::kScheme, "scheme must be \"exact\"");
  auto network = string_at(req, "network");
  auto chain = !network ? std::nullopt
               : !policy.v1_network.empty() && *network == policy.v1_network
                   ? policy.chain_id
                   : chain_id_of(*network);
  if (!chain || *chain != policy.chain_id)
    return bad(reason::kNetwork,
               "this facilitator settles on eip155:" + std::to_string(policy.chain_id) + " only");
  p.network = *network;
  auto payload_network =
      *version == 1 ? string_at(payload, "network") : string_at(accepted, "network");
  if (payload_network && payload_network != network)
    return bad(reason::kNetwork,
               "the payment names network " + *payload_network + ", the requirements " + *network);

  auto asset_text = string_at(req, "asset");
  auto asset = asset_text ? eth::parse_address(*asset_text) : std::nullopt;
  if (!asset) return bad(reason::kInvalidPayload, "paymentRequirements.asset is not an address");
  if (!policy.assets.empty() &&
      std::find(policy.assets.begin(), policy.assets.end(), *asset) == policy.assets.end())
    return bad(reason::kAssetNotAllowed, "asset " + eth::to_hex(*asset) + " is not accepted here");
  auto pay_to_text = string_at(req, "payTo");
  auto pay_to = pay_to_text ? eth::parse_address(*pay_to_text) : std::nullopt;
  if (!pay_to) return bad(reason::kInvalidPayload, "paymentRequirements.payTo is not an address");
  auto amount_text = string_at(req, *version == 1 ? "maxAmountRequired" : "amount");
  auto amount = amount_text ? eth::U256::from_decimal(*amount_text) : std::nullopt;
  if (!amount)
    return bad(reason::kInvalidPayload, std::string("paymentRequirements.") +
                                            (*version == 1 ? "maxAmountRequired" : "amount") +
                                            " must be a decimal integer string");
  if (*version == 2 && accepted) {
    // The payer signed against `accepted`; it must be the offer being settled.
    auto a_asset = string_at(accepted, "asset");
    auto a_pay_to = string_at(accepted, "payTo");
    auto a_amount = string_at(accepted, "amount");
    if ((a_asset && lower(*a_asset) != lower(*asset_text)) ||
        (a_pay_to && lower(*a_pay_to) != lower(*pay_to_text)) ||
        (a_amount && eth::U256::from_decimal(*a_amount) != amount))
      return bad(reason::kRequirementsMismatch,
                 "paymentPayload.accepted differs from paymentRequirements");
  }
  const json::object* extra = object_at(*req, "extra");
  auto name = string_at(extra, "name");
  auto domain_version = string_at(extra, "version");
  if (!name || name->empty() || !domain_version || domain_version->empty())
    return bad(reason::kMissingDomain, "paymentRequirements.extra.name and .version are required");
  p.domain = eth::Eip712Domain{*name, *domain_version, policy.chain_id, *asset};

  // The authorization against the requirements.
  if (p.auth.to != *pay_to)
    return bad(reason::kRecipient, "authorization.to is not paymentRequirements.payTo");
  if (*version == 2 ? p.auth.value != *amount : p.auth.value < *amount)
    return bad(reason::kValue, "authorization.value " + p.auth.value.to_decimal() +
                                   (*version == 2 ? " != amount " : " < maxAmountRequired ") +
                                   amount->to_decimal());
  if (p.auth.valid_after > eth::U256::from_u64(now_seconds))
    return bad(reason::kValidAfter, "authorization is not valid yet");
  if (p.auth.valid_before < eth::U256::from_u64(now_seconds + policy.valid_before_margin_seconds))
    return bad(reason::kValidBefore, "authorization expires too soon or has expired");

  // The signature must recover to `from` (a high-s twin is refused by recover_address).
  eth::Hash32 digest = eth::transfer_with_authorization_digest(p.domain, p.auth);
  eth::Recovered rec = eth::recover_address(digest, *sig);
  // The length was checked above: whatever fails here is 65 well-formed bytes that are not a
  // valid signature (bad v, high s, r or s out of range, no point to recover), which is what the
  // reference facilitator answers with invalid_exact_evm_signature too.
  if (!rec.address)
    return bad(
        rec.error == eth::RecoverError::BadLength ? reason::kSignatureFormat : reason::kSignature,
        "signature: " + std::string(eth::to_string(rec.error)));
  if (*rec.address != p.auth.from)
    return bad(reason::kSignature, "signature does not recover to authorization.from");
  if ((*sig)[64] < 27) (*sig)[64] = static_cast<uint8_t>((*sig)[64] + 27);
  p.signature = std::move(*sig);

  out.verdict = Verdict{true, {}, {}, p.payer};
  out.payment = std::move(p);
  return out;
}

std::optional<std::string> job_id_of_request(std::string_view request_json, uint64_t chain_id) {
  boost::system::error_code ec;
  json::value root = json::parse(request_json, ec);
  if (ec || !root.is_object()) return std::nullopt;
  const auto* payload = object_at(root.get_object(), "paymentPayload");
  const auto* req = object_at(root.get_object(), "paymentRequirements");
  const auto* inner = payload ? object_at(*payload, "payload") : nullptr;
  const auto* authz = inner ? object_at(*inner, "authorization") : nullptr;
  auto asset_text = string_at(req, "asset");
  auto from_text = string_at(authz, "from");
  auto nonce_text = string_at(authz, "nonce");
  auto asset = asset_text ? eth::parse_address(*asset_text) : std::nullopt;
  auto from = from_text ? eth::parse_address(*from_text) : std::nullopt;
  auto nonce = nonce_text ? eth::parse_hash32(*nonce_text) : std::nullopt;
  if (!asset || !from || !nonce) return std::nullopt;
  return std::to_string(chain_id) + ":" + eth::to_hex(*asset) + ":" + eth::to_hex(*from) + ":" +
         eth::to_hex(*nonce);
}

eth::Bytes transfer_with_authorization_call(const Payment& p) {
  eth::Hash32 r{}, s{};
  std::copy(p.signature.begin(), p.signature.begin() + 32, r.begin());
  std::copy(p.signature.begin() + 32, p.signature.begin() + 64, s.begin());
  return eth::AbiEncoder(
             "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,"
             "bytes32,bytes32)")
      .address(p.auth.from)
      .address(p.auth.to)
      .uint256(p.auth.value)
      .uint256(p.auth.valid_after)
      .uint256(p.auth.valid_before)
      .bytes32(p.auth.nonce)
      .uint8(p.signature[64])
      .bytes32(r)
      .bytes32(s)
      .encode();
}

eth::Bytes balance_of_call(const eth::Address& owner) {
  return eth::AbiEncoder("balanceOf(address)").address(owner).encode();
}

eth::Bytes authorization_state_call(const eth::Address& authorizer, const eth::Hash32& nonce) {
  return eth::AbiEncoder("authorizationState(address,bytes32)")
      .address(authorizer)
      .bytes32(nonce)
      .encode();
}

asio::awaitable<ChainCheck> check_on_chain(RpcClient& rpc, const Payment& p,
                                           const eth::Address& simulate_from) {
  const eth::Address& token = p.domain.verifying_contract;
  std::vector<RpcCall> calls;
  calls.push_back(rpc::call(nullptr, token, balance_of_call(p.auth.from)));
  calls.push_back(rpc::call(nullptr, token, authorization_state_call(p.auth.from, p.auth.nonce)));
  calls.push_back(rpc::call(&simulate_from, token, transfer_with_authorization_call(p)));
  calls.push_back(rpc::block_number());
  RpcBatch b = co_await rpc.batch(std::move(calls));
  ChainCheck out;
  if (!b.ok()) {
    out.outcome =
        b.transport == Transport::not_sent ? ChainOutcome::not_sent : ChainOutcome::unavailable;
    out.error = "chain RPC: " + b.transport_error;
    co_return out;
  }
  auto node_trouble = [&](const RpcReply& r, std::string_view what) {
    out.outcome = ChainOutcome::unavailable;
    out.error = "chain RPC " + std::string(what) + ": " + (r.error ? r.error->message : "?");
    return out;
  };
  const auto& balance_reply = b.replies[0];
  const auto& state_reply = b.replies[1];
  const auto& sim_reply = b.replies[2];
  if (!balance_reply.ok() && !rpc::is_revert(*balance_reply.error))
    co_return node_trouble(balance_reply, "balanceOf");
  if (!state_reply.ok() && !rpc::is_revert(*state_reply.error))
    co_return node_trouble(state_reply, "authorizationState");
  if (!sim_reply.ok() && !rpc::is_revert(*sim_reply.error))
    co_return node_trouble(sim_reply, "eth_call");
  out.block = rpc::quantity_u64(b.replies[3]).value_or(0);
  out.outcome = ChainOutcome::answered;

  auto balance_data = rpc::data(balance_reply);
  auto state_data = rpc::data(state_reply);
  auto balance = balance_data ? eth::abi_word(*balance_data, 0) : std::nullopt;
  auto used = state_data ? eth::abi_bool(*state_data, 0) : std::nullopt;
  if (!balance || !used) {
    out.verdict =
        invalid(reason::kNotEip3009,
                "asset " + eth::to_hex(token) + " does not answer as an EIP-3009 token", p.payer);
    co_return out;
  }
  if (*used) {
    out.verdict = invalid(reason::kNonceUsed, "authorization nonce already used", p.payer);
    co_return out;
  }
  if (*balance < p.auth.value) {
    out.verdict = invalid(
        reason::kInsufficientBalance,
        "balance " + balance->to_decimal() + " < value " + p.auth.value.to_decimal(), p.payer);
    co_return out;
  }
  if (!sim_reply.ok()) {
    out.verdict = invalid(reason::kSimulation, rpc::revert_reason(*sim_reply.error), p.payer);
    co_return out;
  }
  out.verdict = Verdict{true, {}, {}, p.payer};
  co_return out;
}

}  // namespace x402::plugins::selfhosted
