#pragma once
// Writes an HTTP/1.1 message as two buffers: its head (start line and fields) rendered into one
// string, then the body as it is. Beast's serializer walks the head piecewise through nested buffer
// views on every write; in the pass-through benchmark that walk cost more than the head is long
// (perf, docs/BENCHMARKS.md "What limits the numbers"). Rendering is one pass over the fields.
//
// Messages whose body Beast must frame (Transfer-Encoding: chunked) still go through
// beast::http::async_write, which chunk-encodes them.
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <charconv>
#include <string>
#include <tuple>

namespace x402::http {

namespace detail {

inline void append_start_line(
    std::string& out, const boost::beast::http::request<boost::beast::http::string_body>& request) {
  out += request.method_string();
  out += ' ';
  out += request.target();
  out += request.version() == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n";
}

inline void append_start_line(
    std::string& out,
    const boost::beast::http::response<boost::beast::http::string_body>& response) {
  out += response.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  char code[8];
  auto end = std::to_chars(code, code + sizeof code, response.result_int()).ptr;
  out.append(code, end);
  out += ' ';
  const auto reason = response.reason();
  out += reason.empty() ? boost::beast::http::obsolete_reason(response.result()) : reason;
  out += "\r\n";
}

}  // namespace detail

// The start line and header fields, CRLF-terminated, exactly as Beast's serializer writes them.
template <bool isRequest>
std::string render_head(
    const boost::beast::http::message<isRequest, boost::beast::http::string_body>& message) {
  size_t size = 64 + 2;  // the start line without its target, and the final CRLF
  if constexpr (isRequest) size += message.target().size();
  for (const auto& field : message) size += field.name_string().size() + field.value().size() + 4;
  std::string head;
  head.reserve(size);
  detail::append_start_line(head, message);
  for (const auto& field : message) {
    head += field.name_string();
    head += ": ";
    head += field.value();
    head += "\r\n";
  }
  head += "\r\n";
  return head;
}

// Writes `message` whole; completes with (error, bytes written) like beast::http::async_write.
template <class Stream, bool isRequest>
boost::asio::awaitable<std::tuple<boost::system::error_code, size_t>> async_write_message(
    Stream& stream,
    const boost::beast::http::message<isRequest, boost::beast::http::string_body>& message) {
  constexpr auto kNoThrow = boost::asio::as_tuple(boost::asio::use_awaitable);
  if (message.chunked())
    co_return co_await boost::beast::http::async_write(stream, message, kNoThrow);
  const std::string head = render_head(message);
  const std::array<boost::asio::const_buffer, 2> buffers{boost::asio::buffer(head),
                                                         boost::asio::buffer(message.body())};
  co_return co_await boost::asio::async_write(stream, buffers, kNoThrow);
}

}  // namespace x402::http
