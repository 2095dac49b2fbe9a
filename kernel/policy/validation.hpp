#pragma once
// Upload-time validation of a merchant policy (DESIGN.md §6): compile it in the sandbox, then dry
// run it on a built-in corpus of sample requests plus the merchant's own samples, reporting every
// sample's outcome. The admin API decides what to do with the report.
#include <string>
#include <vector>

#include "common/result.hpp"
#include "policy/compiled_policy.hpp"

namespace x402::policy {

struct SampleRequest {
  std::string name;
  PolicyRequest request;
};

struct SampleOutcome {
  std::string name;
  bool builtin = false;
  Result<PriceDecision> result;
};

struct ValidationReport {
  std::vector<SampleOutcome> outcomes;

  // True when every sample priced successfully.
  bool accepted() const;
  size_t failures() const;
};

// Requests every policy is expected to price: plain and odd methods, queries, large bodies, many
// headers, long paths, known and unknown payers. `merchant` and `route` fill their fields.
std::vector<SampleRequest> builtin_samples(const std::string& merchant, const std::string& route);

// Compile errors (see CompiledPolicy::compile) are the error; otherwise the report lists the
// built-in samples first, then `merchant_samples`, each priced in the same state, in order, as a
// worker would.
Result<ValidationReport> validate_policy(const PolicySpec& spec, const RouteOffer& offer,
                                         const std::vector<SampleRequest>& merchant_samples,
                                         const std::string& route = "/*");

}  // namespace x402::policy
