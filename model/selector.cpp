#include "model/selector.hpp"

#include <charconv>
#include <cstdint>
#include <optional>

#include "model/error.hpp"

namespace sluice::model {

namespace {

using expression = ::gateway::solo::io::Expression;

std::optional<int64_t> parse_integer(const std::string& text) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr != end || text.empty()) {
    return std::nullopt;
  }
  return value;
}

std::string describe_expression(const expression& e) {
  std::string out = "expression {key: \"" + e.key() +
                    "\", operator: " + expression::Operator_Name(e.operator_()) + ", values: [";
  for (int i = 0; i < e.values_size(); ++i) {
    out += (i ? ", " : "") + e.values(i);
  }
  return out + "]}";
}

caf::error validate(const expression& e) {
  auto bad = [&](const char* why) {
    return make_error(ec::invalid_resource, "invalid " + describe_expression(e) + ": " + why);
  };
  if (e.key().empty()) {
    return bad("the key must not be empty");
  }
  switch (e.operator_()) {
    case expression::Equals:
    case expression::DoubleEquals:
    case expression::NotEquals:
      if (e.values_size() != 1) {
        return bad("this operator needs exactly one value");
      }
      break;
    case expression::In:
    case expression::NotIn:
      if (e.values_size() == 0) {
        return bad("this operator needs at least one value");
      }
      break;
    case expression::Exists:
    case expression::DoesNotExist:
      if (e.values_size() != 0) {
        return bad("this operator takes no values");
      }
      break;
    case expression::GreaterThan:
    case expression::LessThan:
      if (e.values_size() != 1 || !parse_integer(e.values(0))) {
        return bad("this operator needs exactly one integer value");
      }
      break;
    default:
      return bad("unknown operator");
  }
  return {};
}

bool holds(const expression& e, const label_map& labels) {
  auto i = labels.find(e.key());
  const bool present = i != labels.end();
  auto in_values = [&] {
    if (!present) {
      return false;
    }
    for (const auto& v : e.values()) {
      if (v == i->second) {
        return true;
      }
    }
    return false;
  };
  switch (e.operator_()) {
    case expression::Equals:
    case expression::DoubleEquals:
    case expression::In:
      return in_values();
    case expression::NotEquals:
    case expression::NotIn:
      return !in_values();
    case expression::Exists:
      return present;
    case expression::DoesNotExist:
      return !present;
    case expression::GreaterThan:
    case expression::LessThan: {
      if (!present) {
        return false;
      }
      auto have = parse_integer(i->second);
      auto want = parse_integer(e.values(0));
      if (!have || !want) {
        return false;
      }
      return e.operator_() == expression::GreaterThan ? *have > *want : *have < *want;
    }
    default:
      return false;
  }
}

}  // namespace

bool labels_match(const label_map& selector, const label_map& labels) {
  for (const auto& [k, v] : selector) {
    auto i = labels.find(k);
    if (i == labels.end() || i->second != v) {
      return false;
    }
  }
  return true;
}

caf::error validate_expressions(const expression_list& expressions) {
  for (const auto& e : expressions) {
    if (auto err = validate(e)) {
      return err;
    }
  }
  return {};
}

caf::expected<bool> expressions_match(const expression_list& expressions, const label_map& labels) {
  if (auto err = validate_expressions(expressions)) {
    return err;
  }
  for (const auto& e : expressions) {
    if (!holds(e, labels)) {
      return false;
    }
  }
  return true;
}

bool namespace_selected(const google::protobuf::RepeatedPtrField<std::string>& namespaces,
                        const std::string& ns, const std::string* empty_means) {
  if (namespaces.empty()) {
    return empty_means == nullptr || *empty_means == ns;
  }
  for (const auto& n : namespaces) {
    if (n == "*" || n == ns) {
      return true;
    }
  }
  return false;
}

}  // namespace sluice::model
