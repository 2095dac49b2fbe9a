#pragma once
// Where the build put the plugins these tests load.
#include <string>

namespace x402::test {

inline std::string built_plugin(const std::string& name) {
  return std::string(X402_PLUGIN_DIR) + "/" + name + ".so";
}
inline std::string fixture_plugin(const std::string& name) {
  return std::string(X402_BINARY_DIR) + "/test-plugins/" + name + ".so";
}

}  // namespace x402::test
