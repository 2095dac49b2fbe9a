// Upstream and facilitator URLs: parsed once when config is applied, so a bad URL is a config
// error rather than a per-request failure.
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <cctype>
#include <charconv>

#include "http/client.hpp"

namespace x402::http {
namespace {

Error invalid_url(std::string_view url, std::string_view why) {
  return make_error("invalid_url", "",
                    "invalid URL \"" + std::string(url) + "\": " + std::string(why));
}

bool is_default_port(bool tls, uint16_t port) {
  return port == (tls ? 443 : 80);
}

// Brackets keep an IPv6 literal's colons apart from the port separator.
std::string authority_host(const std::string& host) {
  return host.find(':') == std::string::npos ? host : "[" + host + "]";
}

// Everything both parsers share: scheme, host, port and the absence of userinfo and fragment.
// `target` receives the encoded path and, when `allow_query`, the query.
Result<Origin> parse_absolute(std::string_view url, bool allow_query, std::string& target) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return invalid_url(url, parsed.error().message());
  const boost::urls::url_view& u = *parsed;

  Origin origin;
  if (u.scheme_id() == boost::urls::scheme::https) {
    origin.tls = true;
  } else if (u.scheme_id() != boost::urls::scheme::http) {
    return invalid_url(url, "scheme must be http or https");
  }
  if (u.has_userinfo()) return invalid_url(url, "credentials in the URL are not allowed");
  if (u.has_fragment()) return invalid_url(url, "a fragment is not allowed");
  if (u.has_query() && !allow_query) return invalid_url(url, "a query is not allowed here");

  switch (u.host_type()) {
    case boost::urls::host_type::name:
    case boost::urls::host_type::ipv4:
    case boost::urls::host_type::ipv6:
      break;
    default:
      return invalid_url(url, "unsupported host");
  }
  origin.host = u.host_address();
  if (origin.host.empty()) return invalid_url(url, "empty host");
  // DNS names are case-insensitive; lower case keeps one pool per origin however it is spelt.
  for (char& c : origin.host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));

  origin.port = origin.tls ? 443 : 80;
  if (u.has_port() && !u.port().empty()) {  // "host:" with an empty port means the default
    const std::string_view digits = u.port();
    unsigned value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc{} || end != digits.data() + digits.size() || value == 0 || value > 65535) {
      return invalid_url(url, "port must be 1-65535");
    }
    origin.port = static_cast<uint16_t>(value);
  }

  target = u.encoded_path();
  // Boost.URL 1.81 accepts "host:12ab" as port 12 and path "ab"; a real path starts with '/'.
  if (!target.empty() && target.front() != '/') return invalid_url(url, "malformed port or path");
  if (allow_query && u.has_query()) target += "?" + std::string(u.encoded_query());
  return origin;
}

}  // namespace

std::string Origin::host_header() const {
  std::string header = authority_host(host);
  if (!is_default_port(tls, port)) header += ":" + std::to_string(port);
  return header;
}

std::string Origin::key() const {
  return std::string(tls ? "https://" : "http://") + authority_host(host) + ":" +
         std::to_string(port);
}

Result<Origin> parse_origin(std::string_view url) {
  std::string path;
  auto origin = parse_absolute(url, /*allow_query=*/false, path);
  if (!origin) return origin;
  while (!path.empty() && path.back() == '/') path.pop_back();
  origin->base_path = std::move(path);
  return origin;
}

Result<std::pair<Origin, std::string>> parse_url(std::string_view url) {
  std::string target;
  auto origin = parse_absolute(url, /*allow_query=*/true, target);
  if (!origin) return origin.error();
  if (target.empty() || target.front() != '/') target.insert(0, "/");
  return std::pair<Origin, std::string>{std::move(origin.value()), std::move(target)};
}

}  // namespace x402::http
