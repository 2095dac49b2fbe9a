#include "plugin_host/registry.hpp"

#include <filesystem>

namespace x402::plugin_host {

Result<std::unique_ptr<PluginRegistry>> PluginRegistry::create(
    std::vector<std::string> directories, const std::vector<std::string>& files) {
  std::unique_ptr<PluginRegistry> registry(new PluginRegistry(std::move(directories)));
  for (const auto& file : files) {
    auto plugin = load_plugin(file);
    if (!plugin) return plugin.error();
    if (auto added = registry->add(std::move(plugin.value())); !added) return added.error();
  }
  return registry;
}

Status PluginRegistry::add(std::shared_ptr<const LoadedPlugin> plugin) {
  std::string name(plugin->name());
  auto [it, inserted] = by_name_.emplace(name, plugin);
  if (!inserted)
    return make_error("plugin_duplicate", plugin->path(),
                      "two plugins are named " + name + ": " + it->second->path() + " and " +
                          plugin->path() + "; remove one");
  return Ok{};
}

Result<std::shared_ptr<const LoadedPlugin>> PluginRegistry::find(const std::string& name,
                                                                 PluginKind kind) {
  std::lock_guard lock(mutex_);
  std::shared_ptr<const LoadedPlugin> plugin;
  if (auto it = by_name_.find(name); it != by_name_.end()) {
    plugin = it->second;
  } else {
    std::string searched;
    for (const auto& dir : directories_) {
      std::string candidate = (std::filesystem::path(dir) / (name + ".so")).string();
      std::error_code ec;
      if (!std::filesystem::exists(candidate, ec)) {
        searched += (searched.empty() ? "" : ", ") + dir;
        continue;
      }
      auto loaded = load_plugin(candidate);
      if (!loaded) return loaded.error();
      if (loaded.value()->name() != name)
        return make_error("plugin_name", candidate,
                          "plugin " + candidate + " calls itself " +
                              std::string(loaded.value()->name()) + ", expected " + name +
                              " (the file name must be <plugin-name>.so)");
      plugin = loaded.value();
      by_name_.emplace(name, plugin);
      break;
    }
    if (!plugin)
      return make_error("plugin_not_found", name,
                        "plugin " + name + " not found: looked for " + name + ".so in " +
                            (searched.empty() ? std::string("no plugin directories") : searched));
  }
  if (!plugin->provides(kind))
    return make_error("plugin_kind", name,
                      "plugin " + name + " (" + plugin->path() + ") is not a " +
                          std::string(describe(kind)) + " plugin");
  return plugin;
}

std::vector<std::shared_ptr<const LoadedPlugin>> PluginRegistry::loaded() const {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<const LoadedPlugin>> out;
  for (const auto& [name, plugin] : by_name_) out.push_back(plugin);
  return out;
}

}  // namespace x402::plugin_host
