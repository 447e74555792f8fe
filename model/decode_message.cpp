#include "model/decode_message.hpp"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/reflection.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <set>
#include <unordered_map>

#include "model/decode_scalar.hpp"

namespace sluice::model {

namespace pb = google::protobuf;

std::string join_path(const std::string& prefix, std::string_view name) {
  if (prefix.empty()) {
    return std::string(name);
  }
  std::string out = prefix;
  out += '.';
  out += name;
  return out;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      bool same = std::tolower(static_cast<unsigned char>(a[i - 1]))
                  == std::tolower(static_cast<unsigned char>(b[j - 1]));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

namespace {

bool contains(const std::vector<std::string_view>& list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

// jsonpb accepts the json_name (camelCase) and the original field name.
const pb::FieldDescriptor* find_field(const pb::Descriptor* d, std::string_view key) {
  for (int i = 0; i < d->field_count(); ++i) {
    const pb::FieldDescriptor* f = d->field(i);
    if (f->json_name() == key || f->name() == key) {
      return f;
    }
  }
  return nullptr;
}

// Map keys and Struct keys read better as `labels[app.kubernetes.io/name]` than dotted.
std::string key_path(const std::string& prefix, std::string_view key) {
  bool simple = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
  if (simple) {
    return join_path(prefix, key);
  }
  return prefix + "[\"" + std::string(key) + "\"]";
}

std::string index_path(const std::string& prefix, size_t i) {
  return prefix + "[" + std::to_string(i) + "]";
}

std::string enum_names(const pb::EnumDescriptor* e) {
  std::string out;
  for (int i = 0; i < e->value_count(); ++i) {
    if (i > 0) {
      out += ", ";
    }
    out += e->value(i)->name();
  }
  return out;
}

std::string oneof_members(const pb::OneofDescriptor* o) {
  std::string out;
  for (int i = 0; i < o->field_count(); ++i) {
    if (i > 0) {
      out += ", ";
    }
    out += o->field(i)->json_name();
  }
  return out;
}

bool is_wrapper(const std::string& full_name) {
  static const std::set<std::string> wrappers = {
      "google.protobuf.DoubleValue", "google.protobuf.FloatValue",  "google.protobuf.Int64Value",
      "google.protobuf.UInt64Value", "google.protobuf.Int32Value",  "google.protobuf.UInt32Value",
      "google.protobuf.BoolValue",   "google.protobuf.StringValue", "google.protobuf.BytesValue"};
  return wrappers.contains(full_name);
}

bool is_value_type(const pb::FieldDescriptor* f) {
  return f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE
         && f->message_type()->full_name() == "google.protobuf.Value";
}

std::string type_name(const pb::FieldDescriptor* f) {
  if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_ENUM) {
    return f->enum_type()->full_name();
  }
  if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
    return f->message_type()->full_name();
  }
  return f->type_name();
}

}  // namespace

void message_decoder::report(yaml_mark mark, std::string field, std::string message) {
  if (issues_.size() > max_issues) {
    return;
  }
  if (issues_.size() == max_issues) {
    issues_.push_back({mark, sanitize_utf8(field),
                       "too many errors in this document; stopped reporting after "
                           + std::to_string(max_issues)});
    return;
  }
  issues_.push_back({mark, sanitize_utf8(field), sanitize_utf8(message)});
}

void message_decoder::unknown_field(const yaml_node& key, const pb::Message& msg,
                                    const std::string& path, const field_options& options) {
  const pb::Descriptor* d = msg.GetDescriptor();
  std::string valid;
  std::string suggestion;
  size_t best = std::numeric_limits<size_t>::max();
  for (int i = 0; i < d->field_count(); ++i) {
    const std::string& name = d->field(i)->json_name();
    if (contains(options.excluded_fields, name)) {
      continue;
    }
    if (!valid.empty()) {
      valid += ", ";
    }
    valid += name;
    size_t distance = edit_distance(key.value, name);
    if (distance < best) {
      best = distance;
      suggestion = name;
    }
  }
  std::string message = "unknown field \"" + key.value + "\" in " + d->full_name();
  if (key.value == "<<") {
    message = "YAML merge keys (<<) are not supported; write the fields out";
  } else if (best <= std::max<size_t>(2, key.value.size() / 4)) {
    message += " (did you mean \"" + suggestion + "\"?)";
  }
  message += "; valid fields: " + (valid.empty() ? std::string("none") : valid);
  report(key.mark, join_path(path, key.value), std::move(message));
}

void message_decoder::decode_fields(const yaml_node& mapping, pb::Message& msg,
                                    const std::string& path, const field_options& options) {
  const pb::Descriptor* d = msg.GetDescriptor();
  if (!mapping.is_mapping()) {
    report(mapping.mark, path,
           "expected a mapping (" + d->full_name() + "), got " + mapping.describe());
    return;
  }
  std::unordered_map<int, std::string> seen;                        // field number -> key
  std::unordered_map<const pb::OneofDescriptor*, std::string> set;  // oneof -> member set
  for (const auto& [key, value] : mapping.entries) {
    if (!key->is_scalar()) {
      report(key->mark, path, "mapping keys must be field names, got " + key->describe());
      continue;
    }
    if (contains(options.ignored_keys, key->value)) {
      continue;
    }
    const pb::FieldDescriptor* f = find_field(d, key->value);
    if (f == nullptr || contains(options.excluded_fields, f->json_name())) {
      unknown_field(*key, msg, path, options);
      continue;
    }
    std::string field_path = join_path(path, f->json_name());
    if (auto it = seen.find(f->number()); it != seen.end()) {
      report(key->mark, field_path,
             "field given more than once (as \"" + it->second + "\" and \"" + key->value + "\")");
      continue;
    }
    seen.emplace(f->number(), key->value);
    // null means "not set", as in jsonpb; only google.protobuf.Value gives it a meaning.
    if (value->is_null() && !(is_value_type(f) && !f->is_repeated())) {
      continue;
    }
    if (const pb::OneofDescriptor* o = f->real_containing_oneof()) {
      if (auto it = set.find(o); it != set.end()) {
        report(key->mark, field_path,
               "\"" + it->second + "\" and \"" + f->json_name() + "\" are both set, but only one of "
                   + oneof_members(o) + " may be set (oneof " + o->name() + ")");
        continue;
      }
      set.emplace(o, f->json_name());
    }
    decode_field(*value, msg, f, field_path);
  }
}

void message_decoder::decode_field(const yaml_node& node, pb::Message& msg,
                                   const pb::FieldDescriptor* f, const std::string& path) {
  const pb::Reflection* r = msg.GetReflection();
  if (f->is_map()) {
    decode_map(node, msg, f, path);
    return;
  }
  if (f->is_repeated()) {
    if (!node.is_sequence()) {
      report(node.mark, path, "expected a list, got " + node.describe());
      return;
    }
    for (size_t i = 0; i < node.items.size(); ++i) {
      const yaml_node& item = *node.items[i];
      std::string item_path = index_path(path, i);
      if (item.is_null() && !is_value_type(f)) {
        report(item.mark, item_path, "list items must not be null");
        continue;
      }
      if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
        decode_message(item, *r->AddMessage(&msg, f), item_path);
      } else {
        decode_scalar(item, msg, f, item_path);
      }
    }
    return;
  }
  if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
    decode_message(node, *r->MutableMessage(&msg, f), path);
    return;
  }
  decode_scalar(node, msg, f, path);
}

void message_decoder::decode_map(const yaml_node& node, pb::Message& msg,
                                 const pb::FieldDescriptor* f, const std::string& path) {
  if (!node.is_mapping()) {
    report(node.mark, path, "expected a mapping, got " + node.describe());
    return;
  }
  const pb::FieldDescriptor* key_field = f->message_type()->map_key();
  const pb::FieldDescriptor* value_field = f->message_type()->map_value();
  const pb::Reflection* r = msg.GetReflection();
  std::set<std::string> keys;
  for (const auto& [key, value] : node.entries) {
    if (!key->is_scalar()) {
      report(key->mark, path, "map keys must be scalars, got " + key->describe());
      continue;
    }
    std::string entry_path = key_path(path, key->value);
    if (!keys.insert(key->value).second) {
      report(key->mark, entry_path, "duplicate key \"" + key->value + "\"");
      continue;
    }
    pb::Message* entry = r->AddMessage(&msg, f);
    size_t before = issues_.size();
    // Map keys are strings in JSON; convert them to the key type.
    yaml_node key_as_string = *key;
    key_as_string.plain = false;
    decode_scalar(key_as_string, *entry, key_field, entry_path);
    if (issues_.size() != before) {
      continue;
    }
    if (value->is_null() && !is_value_type(value_field)) {
      continue;  // the value type's default, e.g. an empty label value
    }
    decode_field(*value, *entry, value_field, entry_path);
  }
}

void message_decoder::decode_message(const yaml_node& node, pb::Message& msg,
                                     const std::string& path) {
  const pb::Descriptor* d = msg.GetDescriptor();
  const std::string& full = d->full_name();
  const pb::Reflection* r = msg.GetReflection();

  if (full == "google.protobuf.Duration") {
    if (!node.is_scalar()) {
      report(node.mark, path,
             "expected a duration such as \"1.5s\" or \"100ms\", got " + node.describe());
      return;
    }
    auto result = parse_duration(node.value);
    if (auto* error = std::get_if<std::string>(&result)) {
      report(node.mark, path, *error);
      return;
    }
    const auto& value = std::get<duration_value>(result);
    r->SetInt64(&msg, d->FindFieldByName("seconds"), value.seconds);
    r->SetInt32(&msg, d->FindFieldByName("nanos"), value.nanos);
    return;
  }
  if (full == "google.protobuf.Timestamp") {
    pb::Timestamp ts;
    if (!node.is_scalar() || !pb::util::TimeUtil::FromString(node.value, &ts)) {
      report(node.mark, path,
             "expected an RFC 3339 timestamp such as \"2024-01-02T15:04:05Z\", got "
                 + node.describe());
      return;
    }
    r->SetInt64(&msg, d->FindFieldByName("seconds"), ts.seconds());
    r->SetInt32(&msg, d->FindFieldByName("nanos"), ts.nanos());
    return;
  }
  if (is_wrapper(full)) {
    // Wrappers are written as their plain value (proto3 JSON), e.g. `useHttp2: true`.
    decode_scalar(node, msg, d->FindFieldByName("value"), path);
    return;
  }
  if (full == "google.protobuf.Value") {
    if (auto* value = dynamic_cast<pb::Value*>(&msg)) {
      decode_value(node, *value, path);
    }
    return;
  }
  if (full == "google.protobuf.Struct") {
    auto* out = dynamic_cast<pb::Struct*>(&msg);
    if (out == nullptr) {
      return;
    }
    if (!node.is_mapping()) {
      report(node.mark, path, "expected a mapping, got " + node.describe());
      return;
    }
    pb::Value holder;
    decode_value(node, holder, path);
    out->Swap(holder.mutable_struct_value());
    return;
  }
  if (full == "google.protobuf.ListValue") {
    auto* out = dynamic_cast<pb::ListValue*>(&msg);
    if (out == nullptr) {
      return;
    }
    if (!node.is_sequence()) {
      report(node.mark, path, "expected a list, got " + node.describe());
      return;
    }
    pb::Value holder;
    decode_value(node, holder, path);
    out->Swap(holder.mutable_list_value());
    return;
  }
  if (full == "google.protobuf.Any") {
    report(node.mark, path, "google.protobuf.Any is not supported here");
    return;
  }
  if (node.is_null()) {
    return;
  }
  decode_fields(node, msg, path);
}

// Free-form values (Struct, Value, ListValue) follow Go's yaml.v2 resolution, as Gloo's YAML →
// JSON step does: plain true/false/yes/no/on/off are booleans, plain numbers are numbers, quoted
// scalars are always strings. .inf/.nan stay strings because JSON cannot carry them.
void message_decoder::decode_value(const yaml_node& node, pb::Value& out, const std::string& path) {
  switch (node.kind) {
    case yaml_node::type::null:
      out.set_null_value(pb::NULL_VALUE);
      return;
    case yaml_node::type::scalar: {
      if (!valid_utf8(node.value)) {
        report(node.mark, path, "text is not valid UTF-8");
        return;
      }
      if (node.plain) {
        if (auto b = parse_bool(node.value)) {
          out.set_bool_value(*b);
          return;
        }
        auto number = parse_float(node.value, false);
        if (auto* d = std::get_if<double>(&number); d != nullptr && std::isfinite(*d)) {
          out.set_number_value(*d);
          return;
        }
      }
      out.set_string_value(node.value);
      return;
    }
    case yaml_node::type::sequence: {
      auto* list = out.mutable_list_value();
      for (size_t i = 0; i < node.items.size(); ++i) {
        decode_value(*node.items[i], *list->add_values(), index_path(path, i));
      }
      return;
    }
    case yaml_node::type::mapping: {
      auto* fields = out.mutable_struct_value()->mutable_fields();
      for (const auto& [key, value] : node.entries) {
        if (!key->is_scalar()) {
          report(key->mark, path, "keys must be strings, got " + key->describe());
          continue;
        }
        std::string entry_path = key_path(path, key->value);
        if (!valid_utf8(key->value)) {
          report(key->mark, path, "key is not valid UTF-8");
          continue;
        }
        if (fields->contains(key->value)) {
          report(key->mark, entry_path, "duplicate key \"" + key->value + "\"");
          continue;
        }
        decode_value(*value, (*fields)[key->value], entry_path);
      }
      return;
    }
  }
}

void message_decoder::decode_scalar(const yaml_node& node, pb::Message& msg,
                                    const pb::FieldDescriptor* f, const std::string& path) {
  using cpp = pb::FieldDescriptor;
  const pb::Reflection* r = msg.GetReflection();
  const bool repeated = f->is_repeated();
  if (!node.is_scalar()) {
    std::string expected = f->cpp_type() == cpp::CPPTYPE_STRING ? "a string" : type_name(f);
    if (f->cpp_type() == cpp::CPPTYPE_ENUM) {
      expected = "one of " + enum_names(f->enum_type());
    }
    report(node.mark, path, "expected " + expected + ", got " + node.describe());
    return;
  }
  const std::string& text = node.value;
  auto fail = [&](const std::string& message) { report(node.mark, path, message); };

  switch (f->cpp_type()) {
    case cpp::CPPTYPE_INT32: {
      auto v = parse_int(text, std::numeric_limits<int32_t>::min(),
                         std::numeric_limits<int32_t>::max(), "int32");
      if (auto* e = std::get_if<std::string>(&v)) {
        return fail(*e);
      }
      auto x = static_cast<int32_t>(std::get<int64_t>(v));
      repeated ? r->AddInt32(&msg, f, x) : r->SetInt32(&msg, f, x);
      return;
    }
    case cpp::CPPTYPE_INT64: {
      auto v = parse_int(text, std::numeric_limits<int64_t>::min(),
                         std::numeric_limits<int64_t>::max(), "int64");
      if (auto* e = std::get_if<std::string>(&v)) {
        return fail(*e);
      }
      repeated ? r->AddInt64(&msg, f, std::get<int64_t>(v))
               : r->SetInt64(&msg, f, std::get<int64_t>(v));
      return;
    }
    case cpp::CPPTYPE_UINT32: {
      auto v = parse_uint(text, std::numeric_limits<uint32_t>::max(), "uint32");
      if (auto* e = std::get_if<std::string>(&v)) {
        return fail(*e);
      }
      auto x = static_cast<uint32_t>(std::get<uint64_t>(v));
      repeated ? r->AddUInt32(&msg, f, x) : r->SetUInt32(&msg, f, x);
      return;
    }
    case cpp::CPPTYPE_UINT64: {
      auto v = parse_uint(text, std::numeric_limits<uint64_t>::max(), "uint64");
      if (auto* e = std::get_if<std::string>(&v)) {
        return fail(*e);
      }
      repeated ? r->AddUInt64(&msg, f, std::get<uint64_t>(v))
               : r->SetUInt64(&msg, f, std::get<uint64_t>(v));
      return;
    }
    case cpp::CPPTYPE_DOUBLE:
    case cpp::CPPTYPE_FLOAT: {
      bool single = f->cpp_type() == cpp::CPPTYPE_FLOAT;
      auto v = parse_float(text, single);
      if (auto* e = std::get_if<std::string>(&v)) {
        return fail(*e);
      }
      double x = std::get<double>(v);
      if (single) {
        repeated ? r->AddFloat(&msg, f, static_cast<float>(x))
                 : r->SetFloat(&msg, f, static_cast<float>(x));
      } else {
        repeated ? r->AddDouble(&msg, f, x) : r->SetDouble(&msg, f, x);
      }
      return;
    }
    case cpp::CPPTYPE_BOOL: {
      auto b = parse_bool(text);
      if (!b) {
        return fail("expected true or false, got \"" + text + "\"");
      }
      repeated ? r->AddBool(&msg, f, *b) : r->SetBool(&msg, f, *b);
      return;
    }
    case cpp::CPPTYPE_ENUM: {
      const pb::EnumDescriptor* e = f->enum_type();
      const pb::EnumValueDescriptor* value = e->FindValueByName(text);
      if (value == nullptr) {
        // Gloo statuses were historically written as numbers (`state: 1`).
        auto n = parse_int(text, std::numeric_limits<int32_t>::min(),
                           std::numeric_limits<int32_t>::max(), "int32");
        if (auto* number = std::get_if<int64_t>(&n)) {
          value = e->FindValueByNumber(static_cast<int>(*number));
        }
      }
      if (value == nullptr) {
        return fail("invalid value \"" + text + "\" for " + e->name() + "; valid values: "
                    + enum_names(e));
      }
      repeated ? r->AddEnum(&msg, f, value) : r->SetEnum(&msg, f, value);
      return;
    }
    case cpp::CPPTYPE_STRING: {
      std::string value = text;
      if (f->type() == cpp::TYPE_BYTES) {
        std::string error;
        auto decoded = decode_base64(text, error);
        if (!decoded) {
          return fail(error + " (bytes fields are base64)");
        }
        value = std::move(*decoded);
      }
      if (f->type() == cpp::TYPE_STRING && !valid_utf8(value)) {
        return fail("text is not valid UTF-8");
      }
      // Any scalar is accepted for a string field: Gloo's YAML → JSON step keeps the text of
      // `port: 8080` or `enabled: yes` when the target is a string.
      repeated ? r->AddString(&msg, f, std::move(value)) : r->SetString(&msg, f, std::move(value));
      return;
    }
    case cpp::CPPTYPE_MESSAGE:
      break;
  }
  fail("internal: unexpected field type " + type_name(f));
}

}  // namespace sluice::model
