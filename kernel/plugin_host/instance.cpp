#include "plugin_host/instance.hpp"

#include <boost/json/serialize.hpp>

#include "plugin_host/config_schema.hpp"

namespace x402::plugin_host {
namespace {

template <typename VTable>
Result<std::unique_ptr<PluginInstance<VTable>>> create(std::shared_ptr<const LoadedPlugin> plugin,
                                                       const VTable* vtable, PluginKind kind,
                                                       const x402_host_api* host,
                                                       const std::string& instance_name,
                                                       const boost::json::object& config,
                                                       std::string_view where) {
  std::string prefix = std::string(where) + " (" + std::string(plugin->name()) + "): ";
  if (!vtable)
    return make_error("plugin_kind", std::string(where),
                      prefix + "plugin " + plugin->path() + " is not a " +
                          std::string(describe(kind)) + " plugin");
  if (auto valid = validate_plugin_config(plugin->config_schema_json(), config); !valid)
    return make_error(valid.error().code, std::string(where) + "." + valid.error().field,
                      prefix + valid.error().message);

  std::string json = boost::json::serialize(config);
  char message[1024] = {};
  x402_error_buf error{message, sizeof message};
  void* instance = vtable->create(host, x402_str{instance_name.data(), instance_name.size()},
                                  x402_str{json.data(), json.size()}, &error);
  if (!instance)
    return make_error("plugin_config", std::string(where),
                      prefix + (message[0] ? message : "create() failed without a message"));
  return std::make_unique<PluginInstance<VTable>>(std::move(plugin), vtable, instance,
                                                  instance_name);
}

}  // namespace

Result<std::unique_ptr<FacilitatorInstance>> create_facilitator(
    std::shared_ptr<const LoadedPlugin> plugin, const x402_host_api* host,
    const std::string& instance_name, const boost::json::object& config, std::string_view where) {
  const auto* vtable = plugin->facilitator();
  return create(std::move(plugin), vtable, PluginKind::facilitator, host, instance_name, config,
                where);
}

Result<std::unique_ptr<RoutingInstance>> create_routing(std::shared_ptr<const LoadedPlugin> plugin,
                                                        const x402_host_api* host,
                                                        const std::string& instance_name,
                                                        const boost::json::object& config,
                                                        std::string_view where) {
  const auto* vtable = plugin->routing();
  return create(std::move(plugin), vtable, PluginKind::routing, host, instance_name, config, where);
}

Result<std::unique_ptr<RateLimitInstance>> create_ratelimit(
    std::shared_ptr<const LoadedPlugin> plugin, const x402_host_api* host,
    const std::string& instance_name, const boost::json::object& config, std::string_view where) {
  const auto* vtable = plugin->ratelimit();
  return create(std::move(plugin), vtable, PluginKind::ratelimit, host, instance_name, config,
                where);
}

Result<std::unique_ptr<WebhookInstance>> create_webhook(std::shared_ptr<const LoadedPlugin> plugin,
                                                        const x402_host_api* host,
                                                        const std::string& instance_name,
                                                        const boost::json::object& config,
                                                        std::string_view where) {
  const auto* vtable = plugin->webhook();
  return create(std::move(plugin), vtable, PluginKind::webhook, host, instance_name, config, where);
}

}  // namespace x402::plugin_host
