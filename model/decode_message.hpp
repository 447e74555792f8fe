#pragma once
/// Descriptor-driven conversion of a YAML tree (model/yaml_tree.hpp) into a protobuf message,
/// following proto3 JSON mapping as Gloo's jsonpb applies it to YAML, with Gloo's leniencies.
///
/// message_decoder owns nothing but a reference to the caller's issue list. It promises that
/// every problem becomes an issue with the node's position and the field path (json names,
/// `[i]` for list items), that one bad field does not stop the others from being checked, and
/// that its work is bounded by the size of the tree (aliases were budgeted when it was built).

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "model/yaml_tree.hpp"

namespace google::protobuf {
class Message;
class FieldDescriptor;
class Value;
}  // namespace google::protobuf

namespace sluice::model {

struct decode_issue {
  yaml_mark mark;
  std::string field;
  std::string message;
};

struct field_options {
  /// Keys accepted and skipped at this level (a `kind` in a flat document, the Kubernetes-only
  /// metadata fields such as `uid` or `managedFields`).
  std::vector<std::string_view> ignored_keys;
  /// Fields of the message that are not accepted here (json names), e.g. `metadata` inside a
  /// Kubernetes `spec`; they are reported as unknown and left out of the list of valid fields.
  std::vector<std::string_view> excluded_fields;
};

class message_decoder {
 public:
  static constexpr size_t max_issues = 100;

  explicit message_decoder(std::vector<decode_issue>& issues) : issues_(issues) {}

  /// Decodes the entries of `mapping` into fields of `msg`. `path` prefixes the field paths.
  void decode_fields(const yaml_node& mapping, google::protobuf::Message& msg,
                     const std::string& path, const field_options& options = {});

  /// Decodes any node into `msg`, handling the well-known types (Duration, Timestamp, wrappers,
  /// Struct, Value, ListValue); other messages must be mappings.
  void decode_message(const yaml_node& node, google::protobuf::Message& msg,
                      const std::string& path);

  void report(yaml_mark mark, std::string field, std::string message);

 private:
  void decode_field(const yaml_node& node, google::protobuf::Message& msg,
                    const google::protobuf::FieldDescriptor* field, const std::string& path);
  void decode_map(const yaml_node& node, google::protobuf::Message& msg,
                  const google::protobuf::FieldDescriptor* field, const std::string& path);
  /// Sets (or, for repeated fields, adds) one value of a non-message field.
  void decode_scalar(const yaml_node& node, google::protobuf::Message& msg,
                     const google::protobuf::FieldDescriptor* field, const std::string& path);
  void decode_value(const yaml_node& node, google::protobuf::Value& out, const std::string& path);
  void unknown_field(const yaml_node& key, const google::protobuf::Message& msg,
                     const std::string& path, const field_options& options);

  std::vector<decode_issue>& issues_;
};

/// "a.b" from "a" and "b"; "b" when the prefix is empty.
std::string join_path(const std::string& prefix, std::string_view name);

/// Levenshtein distance, case-insensitive, for "did you mean" hints.
size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace sluice::model
