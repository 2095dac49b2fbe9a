#pragma once
// Loads one plugin shared library and checks it speaks our ABI before trusting anything in it.
#include <x402/plugin_abi.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace x402::plugin_host {

enum class PluginKind { facilitator, routing, ratelimit, webhook };

// "facilitator", "routing strategy", "rate-limit tier", "webhook sink"
std::string_view describe(PluginKind kind);

// A dlopen'ed plugin. The handle is closed when the last shared_ptr goes away; every created
// instance holds one, so code never unloads under a live instance.
class LoadedPlugin {
 public:
  LoadedPlugin(std::string path, void* handle, const x402_plugin_info* info);
  ~LoadedPlugin();
  LoadedPlugin(const LoadedPlugin&) = delete;
  LoadedPlugin& operator=(const LoadedPlugin&) = delete;

  const std::string& path() const { return path_; }
  std::string_view name() const { return info_->name; }
  std::string_view version() const { return info_->version ? info_->version : ""; }
  std::string_view description() const { return info_->description ? info_->description : ""; }
  // Empty when the plugin declares no schema.
  std::string_view config_schema_json() const {
    return info_->config_schema_json ? info_->config_schema_json : "";
  }
  bool provides(PluginKind kind) const;

  const x402_facilitator_vtable* facilitator() const { return info_->facilitator; }
  const x402_routing_vtable* routing() const { return info_->routing; }
  const x402_ratelimit_vtable* ratelimit() const { return info_->ratelimit; }
  const x402_webhook_vtable* webhook() const { return info_->webhook; }

 private:
  std::string path_;
  void* handle_;
  const x402_plugin_info* info_;
};

// dlopen(RTLD_NOW | RTLD_LOCAL), find x402_plugin_entry, check the ABI version first, then the
// rest of the info block. Errors: code "plugin_load" with a message naming the file.
Result<std::shared_ptr<const LoadedPlugin>> load_plugin(const std::string& path);

}  // namespace x402::plugin_host
