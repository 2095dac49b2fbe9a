#pragma once
// A created plugin instance: owns the plugin's opaque pointer, calls vtable->destroy exactly once,
// and keeps the plugin's library loaded for as long as the instance lives.
#include <x402/plugin_abi.h>

#include <boost/json/object.hpp>
#include <memory>
#include <string>

#include "common/result.hpp"
#include "plugin_host/loader.hpp"

namespace x402::plugin_host {

template <typename VTable>
class PluginInstance {
 public:
  PluginInstance(std::shared_ptr<const LoadedPlugin> plugin, const VTable* vtable, void* instance,
                 std::string name)
      : plugin_(std::move(plugin)), vtable_(vtable), instance_(instance), name_(std::move(name)) {}
  ~PluginInstance() {
    if (instance_) vtable_->destroy(instance_);
  }
  PluginInstance(const PluginInstance&) = delete;
  PluginInstance& operator=(const PluginInstance&) = delete;

  const VTable& vtable() const { return *vtable_; }
  void* get() const { return instance_; }
  const std::string& name() const { return name_; }
  const LoadedPlugin& plugin() const { return *plugin_; }

 private:
  std::shared_ptr<const LoadedPlugin> plugin_;  // declared first: destroyed after destroy() ran
  const VTable* vtable_;
  void* instance_;
  std::string name_;
};

using FacilitatorInstance = PluginInstance<x402_facilitator_vtable>;
using RoutingInstance = PluginInstance<x402_routing_vtable>;
using RateLimitInstance = PluginInstance<x402_ratelimit_vtable>;
using WebhookInstance = PluginInstance<x402_webhook_vtable>;

// Validates `config` against the plugin's schema, then calls create(). `where` locates the
// instance in the config file for messages, e.g. "facilitators[1]"; errors read
// "facilitators[1] (facilitator-http): config.preset: must be one of ...".
// `host` must outlive the instance.
Result<std::unique_ptr<FacilitatorInstance>> create_facilitator(
    std::shared_ptr<const LoadedPlugin> plugin, const x402_host_api* host,
    const std::string& instance_name, const boost::json::object& config, std::string_view where);
Result<std::unique_ptr<RoutingInstance>> create_routing(std::shared_ptr<const LoadedPlugin> plugin,
                                                        const x402_host_api* host,
                                                        const std::string& instance_name,
                                                        const boost::json::object& config,
                                                        std::string_view where);
Result<std::unique_ptr<RateLimitInstance>> create_ratelimit(
    std::shared_ptr<const LoadedPlugin> plugin, const x402_host_api* host,
    const std::string& instance_name, const boost::json::object& config, std::string_view where);
Result<std::unique_ptr<WebhookInstance>> create_webhook(std::shared_ptr<const LoadedPlugin> plugin,
                                                        const x402_host_api* host,
                                                        const std::string& instance_name,
                                                        const boost::json::object& config,
                                                        std::string_view where);

}  // namespace x402::plugin_host
