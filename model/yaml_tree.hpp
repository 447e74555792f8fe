#pragma once
/// A bounded YAML reader for the resource decoder: a cheap text pre-scan plus an event-driven
/// parse (yaml-cpp's Parser/EventHandler) into a small immutable tree that keeps each node's
/// position and whether a scalar was written plain or quoted.
///
/// Why not YAML::Load: its node API hides aliases (an alias is the anchored node itself), so a
/// "billion laughs" file cannot be bounded while walking it, and it drops the plain/quoted
/// distinction that decides whether `on` is a boolean or a string. Building our own tree from
/// events lets us count alias uses and the size each alias expands to while parsing, and fail
/// before anything walks the expansion.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::model {

/// A position in the text, 1-based; 0 when unknown.
struct yaml_mark {
  int line = 0;
  int column = 0;
};

struct yaml_node;
/// Aliases share the anchored node, so the tree is a DAG; nodes are immutable once built.
using yaml_node_ptr = std::shared_ptr<const yaml_node>;

struct yaml_node {
  enum class type { null, scalar, sequence, mapping };
  type kind = type::null;
  yaml_mark mark;
  std::string value;  ///< scalar text
  /// True for an untagged plain scalar: only those resolve to null / bool / number. Quoted and
  /// block scalars, and scalars tagged `!!str`, are always strings.
  bool plain = false;
  std::vector<yaml_node_ptr> items;                             ///< sequence
  std::vector<std::pair<yaml_node_ptr, yaml_node_ptr>> entries;  ///< mapping, in file order
  /// Nodes in this subtree with every alias expanded (this node included).
  size_t expanded = 1;
  /// Nesting levels of collections in this subtree, aliases expanded (0 for a scalar).
  size_t height = 0;

  bool is_null() const { return kind == type::null; }
  bool is_scalar() const { return kind == type::scalar; }
  bool is_sequence() const { return kind == type::sequence; }
  bool is_mapping() const { return kind == type::mapping; }
  /// "a mapping", "a list", "the string \"abc\"", "null": for "expected X, got Y" messages.
  std::string describe() const;
};

struct yaml_budget {
  size_t max_bytes = 0;
  size_t max_depth = 0;
  size_t max_nodes = 0;    ///< per file, after alias expansion
  size_t max_aliases = 0;  ///< per file
  size_t max_documents = 0;
};

struct yaml_document {
  yaml_node_ptr root;  ///< null node for an empty document
  yaml_mark start;
};

/// Outcome of reading a whole file. When `failed` is set, `error`/`at` say why and the documents
/// read so far must not be trusted (a syntax error may have cut the file anywhere).
struct yaml_file {
  bool failed = false;
  std::string error;
  yaml_mark at;
};

/// Receives each document as soon as it is parsed, so that only one document's tree is alive at
/// a time (anchors do not cross documents).
using yaml_document_sink = std::function<void(yaml_document)>;

/// Checks the byte budget and pre-scans the text for flow-bracket and block-indentation nesting
/// deeper than `budget.max_depth`, without recursion and in one pass, so that hostile nesting
/// never reaches yaml-cpp (whose scanner tokenizes a million `[` before its own depth guard
/// trips). Returns an empty string when the text is within bounds, else the problem, with `at`
/// set to where it was found.
std::string yaml_prescan(std::string_view text, const yaml_budget& budget, yaml_mark& at);

/// Pre-scan, then parse every document into a tree handed to `sink`, enforcing depth, node,
/// alias and document budgets while parsing. Never throws: yaml-cpp exceptions become `failed`
/// with their position.
yaml_file yaml_read(std::string_view text, const yaml_budget& budget,
                    const yaml_document_sink& sink);

}  // namespace sluice::model
