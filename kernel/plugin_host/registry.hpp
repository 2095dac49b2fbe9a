#pragma once
// Finds plugins by name. Explicitly listed files are loaded up front; any other name is looked up
// as <dir>/<name>.so in the configured directories, first match wins, and loaded once.
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "plugin_host/loader.hpp"

namespace x402::plugin_host {

class PluginRegistry {
 public:
  // Loads every file in `files`; fails if one cannot be loaded or two declare the same name.
  static Result<std::unique_ptr<PluginRegistry>> create(std::vector<std::string> directories,
                                                        const std::vector<std::string>& files);

  // The plugin called `name` that provides `kind`. Errors say where it was looked for.
  Result<std::shared_ptr<const LoadedPlugin>> find(const std::string& name, PluginKind kind);

  // Everything loaded so far, by name.
  std::vector<std::shared_ptr<const LoadedPlugin>> loaded() const;

 private:
  explicit PluginRegistry(std::vector<std::string> directories)
      : directories_(std::move(directories)) {}
  Status add(std::shared_ptr<const LoadedPlugin> plugin);

  std::vector<std::string> directories_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const LoadedPlugin>, std::less<>> by_name_;
};

}  // namespace x402::plugin_host
