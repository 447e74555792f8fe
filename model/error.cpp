#include "model/error.hpp"

#include "caf/message.hpp"

namespace sluice {

std::string to_string(ec x) {
  switch (x) {
    case ec::none: return "none";
    case ec::parse_error: return "parse_error";
    case ec::schema_error: return "schema_error";
    case ec::invalid_resource: return "invalid_resource";
    case ec::not_found: return "not_found";
    case ec::storage_error: return "storage_error";
    case ec::incompatible_store: return "incompatible_store";
    case ec::source_error: return "source_error";
    case ec::protocol_error: return "protocol_error";
    case ec::limit_exceeded: return "limit_exceeded";
    case ec::invalid_argument: return "invalid_argument";
  }
  return "unknown";
}

std::string describe(const caf::error& err) {
  if (!err) {
    return "ok";
  }
  std::string out;
  if (err.category() == caf::atom("sluice")) {
    out = to_string(static_cast<ec>(err.code()));
  } else {
    out = caf::to_string(err);
    return out;
  }
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0)) {
    out += ": ";
    out += ctx.get_as<std::string>(0);
  }
  return out;
}

}  // namespace sluice
