#include "plugin_host/loader.hpp"

#include <dlfcn.h>

#include <filesystem>

namespace x402::plugin_host {
namespace {

Error load_error(const std::string& path, const std::string& what) {
  return make_error("plugin_load", path, "plugin " + path + ": " + what);
}

// Every vtable must be big enough for the fields of ABI 1.0, the oldest we accept.
template <typename VTable>
bool too_small(const VTable* vtable, size_t minimum) {
  return vtable && vtable->struct_size < minimum;
}

}  // namespace

std::string_view describe(PluginKind kind) {
  switch (kind) {
    case PluginKind::facilitator:
      return "facilitator";
    case PluginKind::routing:
      return "routing strategy";
    case PluginKind::ratelimit:
      return "rate-limit tier";
    case PluginKind::webhook:
      return "webhook sink";
  }
  return "unknown";
}

LoadedPlugin::LoadedPlugin(std::string path, void* handle, const x402_plugin_info* info)
    : path_(std::move(path)), handle_(handle), info_(info) {}

LoadedPlugin::~LoadedPlugin() {
  if (handle_) dlclose(handle_);
}

bool LoadedPlugin::provides(PluginKind kind) const {
  switch (kind) {
    case PluginKind::facilitator:
      return info_->facilitator != nullptr;
    case PluginKind::routing:
      return info_->routing != nullptr;
    case PluginKind::ratelimit:
      return info_->ratelimit != nullptr;
    case PluginKind::webhook:
      return info_->webhook != nullptr;
  }
  return false;
}

Result<std::shared_ptr<const LoadedPlugin>> load_plugin(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return load_error(path, "no such file");

  dlerror();  // clear any stale message
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = dlerror();
    return load_error(path, std::string("cannot be loaded: ") + (why ? why : "dlopen failed"));
  }
  // From here on the handle must be closed on every error path.
  auto fail = [&](const std::string& what) {
    dlclose(handle);
    return load_error(path, what);
  };

  void* symbol = dlsym(handle, X402_PLUGIN_ENTRY_SYMBOL);
  if (!symbol) return fail("is not an x402 plugin (no " X402_PLUGIN_ENTRY_SYMBOL " symbol)");
  auto entry = reinterpret_cast<x402_plugin_entry_fn>(symbol);
  const x402_plugin_info* info = entry();
  if (!info) return fail(X402_PLUGIN_ENTRY_SYMBOL " returned NULL");

  // Only the two version fields may be read before the version is known to be ours.
  if (info->abi_major != X402_ABI_MAJOR || info->abi_minor > X402_ABI_MINOR) {
    return fail("was built for plugin ABI " + std::to_string(info->abi_major) + "." +
                std::to_string(info->abi_minor) + ", this x402d speaks " +
                std::to_string(X402_ABI_MAJOR) + "." + std::to_string(X402_ABI_MINOR) +
                ": rebuild it against the installed x402 SDK");
  }
  if (info->struct_size < offsetof(x402_plugin_info, webhook) + sizeof(info->webhook))
    return fail("has a truncated x402_plugin_info (struct_size " +
                std::to_string(info->struct_size) + ")");
  if (!info->name || !*info->name) return fail("declares an empty name");
  if (!info->facilitator && !info->routing && !info->ratelimit && !info->webhook)
    return fail("provides no facilitator, routing, rate-limit or webhook table");
  if (too_small(info->facilitator, offsetof(x402_facilitator_vtable, health)) ||
      too_small(info->routing, sizeof(x402_routing_vtable)) ||
      too_small(info->ratelimit, offsetof(x402_ratelimit_vtable, release)) ||
      too_small(info->webhook, sizeof(x402_webhook_vtable)))
    return fail("has a truncated vtable");
  auto missing = [](auto* vtable, bool required_ok) { return vtable && !required_ok; };
  const auto* f = info->facilitator;
  const auto* r = info->routing;
  const auto* l = info->ratelimit;
  const auto* w = info->webhook;
  if (missing(f, f && f->create && f->destroy && f->supported && f->verify && f->settle) ||
      missing(r, r && r->create && r->destroy && r->order) ||
      missing(l, l && l->create && l->destroy && l->admit) ||
      missing(w, w && w->create && w->destroy && w->deliver))
    return fail("has a vtable with a NULL required function");

  return std::shared_ptr<const LoadedPlugin>(std::make_shared<LoadedPlugin>(path, handle, info));
}

}  // namespace x402::plugin_host
