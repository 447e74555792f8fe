#include "model/yaml_tree.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <exception>
#include <new>
#include <sstream>
#include <unordered_map>

namespace sluice::model {

std::string yaml_node::describe() const {
  switch (kind) {
    case type::null:
      return "null";
    case type::sequence:
      return "a list";
    case type::mapping:
      return "a mapping";
    case type::scalar:
      break;
  }
  std::string shown = value.size() > 40 ? value.substr(0, 40) + "..." : value;
  return (plain ? "the value \"" : "the string \"") + shown + "\"";
}

namespace {

// --- pre-scan ----------------------------------------------------------------------------------

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

bool is_flow_indicator(char c) {
  return c == ',' || c == '[' || c == ']' || c == '{' || c == '}';
}

// Counts nesting without building anything. Flow brackets are counted exactly (outside quoted
// scalars, comments and block scalars; in block context only where a node may start, so a regex
// like `^/api[0-9]+` in a plain scalar is not mistaken for a list). Block nesting is estimated
// from indentation plus compact indicators (`- - x`, `- key: v`); it can under-count a sequence
// written at its parent key's indentation, which is fine because the tree builder enforces the
// exact depth while parsing. It errs the other way only for brackets at the start of a plain
// scalar's continuation line, which it takes for a flow collection: more than 64 of those is not
// a configuration. The pre-scan only has to keep pathological input away from yaml-cpp.
class nesting_scan {
 public:
  nesting_scan(std::string_view text, size_t max_depth) : text_(text), max_depth_(max_depth) {}

  std::string run(yaml_mark& at) {
    while (pos_ < text_.size()) {
      if (!scan_line()) {
        at = at_;
        return error_;
      }
    }
    return {};
  }

 private:
  char peek(size_t offset = 0) const {
    return pos_ + offset < text_.size() ? text_[pos_ + offset] : '\n';
  }

  bool separated_after(size_t offset) const {
    char c = peek(offset);
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
  }

  int col() const { return static_cast<int>(pos_ - line_start_); }

  bool too_deep() {
    if (block_.size() + flow_ <= max_depth_) {
      return false;
    }
    at_ = {line_ + 1, col() + 1};
    error_ = "nesting deeper than " + std::to_string(max_depth_)
             + " levels (mappings and lists); the file is rejected before parsing";
    return true;
  }

  void push_block(int column) {
    if (block_.empty() || column > block_.back()) {
      block_.push_back(column);
    }
  }

  void skip_to_eol() {
    while (pos_ < text_.size() && text_[pos_] != '\n') {
      ++pos_;
    }
  }

  // Skips an anchor, alias or tag name; the node still starts after it.
  void skip_property() {
    ++pos_;
    while (pos_ < text_.size() && !is_blank(text_[pos_]) && text_[pos_] != '\n'
           && !is_flow_indicator(text_[pos_])) {
      ++pos_;
    }
  }

  // One physical line. Returns false when a limit is exceeded.
  bool scan_line() {
    line_start_ = pos_;
    int indent = 0;
    while (peek(indent) == ' ') {
      ++indent;
    }
    size_t first = pos_ + static_cast<size_t>(indent);
    // Blank means only whitespace up to the line end; a tab may precede content.
    size_t content = first;
    while (content < text_.size() && is_blank(text_[content])) {
      ++content;
    }
    bool blank = content >= text_.size() || text_[content] == '\n';

    if (block_scalar_) {
      bool marker = block_threshold_ < 0 && indent == 0
                    && (text_.substr(first).starts_with("---")
                        || text_.substr(first).starts_with("..."));
      if (blank || (indent > block_threshold_ && !marker)) {
        finish_line();
        return true;
      }
      block_scalar_ = false;
    }

    if (quote_ == 0 && flow_ == 0) {
      if (blank || text_[content] == '#') {
        finish_line();
        return true;
      }
      key_col_ = -1;
      dash_col_ = -1;
      doc_line_ = false;
      if (indent == 0
          && (text_.substr(first).starts_with("---") || text_.substr(first).starts_with("..."))
          && (first + 3 >= text_.size() || is_blank(text_[first + 3])
              || text_[first + 3] == '\n')) {
        block_.clear();
        doc_line_ = true;
        pos_ = first + 3;
      } else {
        while (!block_.empty() && block_.back() > indent) {
          block_.pop_back();
        }
        push_block(indent);
        pos_ = first;
        if (too_deep()) {
          return false;
        }
      }
      token_start_ = true;
      token_col_ = indent;
    } else if (quote_ == 0) {
      pos_ = first;
    }

    while (pos_ < text_.size() && text_[pos_] != '\n') {
      if (quote_ != 0) {
        scan_quoted();
        continue;
      }
      char c = text_[pos_];
      if (c == '#' && (pos_ == line_start_ || is_blank(text_[pos_ - 1]))) {
        skip_to_eol();
        break;
      }
      if (is_blank(c)) {
        ++pos_;
        continue;
      }
      if ((c == '"' || c == '\'') && token_start_) {
        quote_ = c;
        token_col_ = col();
        token_start_ = false;
        ++pos_;
        continue;
      }
      if ((c == '&' || c == '!' || c == '*') && token_start_) {
        skip_property();
        continue;
      }
      if (flow_ > 0) {
        if (!scan_flow_char(c)) {
          return false;
        }
        continue;
      }
      if (!scan_block_char(c)) {
        return false;
      }
    }
    finish_line();
    return true;
  }

  bool scan_flow_char(char c) {
    if (c == '[' || c == '{') {
      ++flow_;
      if (too_deep()) {
        return false;
      }
      token_start_ = true;
    } else if (c == ']' || c == '}') {
      if (flow_ > 0) {
        --flow_;
      }
      token_start_ = false;
    } else if (c == ',') {
      token_start_ = true;
    } else if ((c == ':' || c == '-' || c == '?')
               && (separated_after(1) || is_flow_indicator(peek(1)))) {
      token_start_ = true;
    } else {
      token_start_ = false;
    }
    ++pos_;
    return true;
  }

  bool scan_block_char(char c) {
    if ((c == '[' || c == '{') && token_start_) {
      flow_ = 1;
      if (too_deep()) {
        return false;
      }
      token_start_ = true;
      ++pos_;
      return true;
    }
    if ((c == '-' || c == '?') && token_start_ && separated_after(1)) {
      dash_col_ = col();
      key_col_ = -1;
      push_block(col());
      if (too_deep()) {
        return false;
      }
      ++pos_;
      return true;
    }
    if (c == ':' && separated_after(1)) {
      key_col_ = token_col_;
      push_block(token_col_);
      if (too_deep()) {
        return false;
      }
      token_start_ = true;
      ++pos_;
      return true;
    }
    if ((c == '|' || c == '>') && token_start_) {
      // A block scalar: every following line indented deeper than its parent is content.
      block_scalar_ = true;
      if (key_col_ >= 0) {
        block_threshold_ = key_col_;
      } else if (dash_col_ >= 0) {
        block_threshold_ = dash_col_;
      } else if (doc_line_) {
        block_threshold_ = -1;
      } else {
        block_threshold_ = block_.empty() ? -1 : block_.back() - 1;
      }
      skip_to_eol();
      return true;
    }
    if (token_start_) {
      token_col_ = col();
      token_start_ = false;
    }
    ++pos_;
    return true;
  }

  void scan_quoted() {
    char c = text_[pos_];
    if (quote_ == '"' && c == '\\') {
      pos_ += (peek(1) == '\n') ? 1 : 2;
      return;
    }
    if (c == quote_) {
      if (quote_ == '\'' && peek(1) == '\'') {
        pos_ += 2;
        return;
      }
      quote_ = 0;
      token_start_ = false;
    }
    ++pos_;
  }

  void finish_line() {
    skip_to_eol();
    if (pos_ < text_.size()) {
      ++pos_;  // the newline
    }
    ++line_;
  }

  std::string_view text_;
  size_t max_depth_;
  size_t pos_ = 0;
  size_t line_start_ = 0;
  int line_ = 0;
  std::vector<int> block_;  // columns of open block collections
  size_t flow_ = 0;         // open flow brackets
  char quote_ = 0;          // open quote character, 0 when none
  bool token_start_ = true; // a node may start here
  int token_col_ = 0;       // column where the current token (a potential key) started
  int key_col_ = -1;        // column of the last key on this line
  int dash_col_ = -1;       // column of the last `-` / `?` indicator on this line
  bool doc_line_ = false;   // this line began with `---`
  bool block_scalar_ = false;
  int block_threshold_ = 0;
  yaml_mark at_;
  std::string error_;
};

// --- tree building -------------------------------------------------------------------------------

yaml_mark to_mark(const YAML::Mark& m) {
  if (m.line < 0) {
    return {};
  }
  return {m.line + 1, m.column + 1};
}

// Receives yaml-cpp's events for one document at a time. Handlers cannot return errors, so the
// first problem is recorded and every later event ignored; the caller stops after the document.
class tree_builder : public YAML::EventHandler {
 public:
  explicit tree_builder(const yaml_budget& budget) : budget_(budget) {}

  bool failed() const { return failed_; }
  const std::string& error() const { return error_; }
  yaml_mark at() const { return at_; }

  /// Root of the document just handled (a null node when it was empty).
  yaml_node_ptr take_root() {
    yaml_node_ptr root = std::move(root_);
    root_.reset();
    stack_.clear();
    anchors_.clear();  // yaml-cpp numbers anchors per document
    if (!root) {
      auto empty = std::make_shared<yaml_node>();
      empty->mark = doc_start_;
      root = std::move(empty);
    }
    return root;
  }

  yaml_mark doc_start() const { return doc_start_; }

  void OnDocumentStart(const YAML::Mark& mark) override { doc_start_ = to_mark(mark); }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (failed_ || !count_new(mark)) {
      return;
    }
    auto node = std::make_shared<yaml_node>();
    node->mark = to_mark(mark);
    finish(std::move(node), anchor);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (failed_) {
      return;
    }
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) {
      fail(mark, "an alias refers to a node that contains it; recursive aliases are not allowed");
      return;
    }
    if (++aliases_ > budget_.max_aliases) {
      fail(mark, "more than " + std::to_string(budget_.max_aliases)
                     + " alias uses (*name) in one file");
      return;
    }
    // An alias can carry a deep subtree into a deep place; the walker recurses, so the
    // expanded depth is what must stay bounded.
    if (stack_.size() + it->second->height > budget_.max_depth) {
      fail(mark, "nesting deeper than " + std::to_string(budget_.max_depth)
                     + " levels (mappings and lists) once aliases are expanded");
      return;
    }
    nodes_ += it->second->expanded;
    if (nodes_ > budget_.max_nodes) {
      fail(mark, "aliases expand to more than " + std::to_string(budget_.max_nodes)
                     + " nodes (a \"billion laughs\" document?)");
      return;
    }
    attach(it->second);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    if (failed_ || !count_new(mark)) {
      return;
    }
    auto node = std::make_shared<yaml_node>();
    node->kind = yaml_node::type::scalar;
    node->mark = to_mark(mark);
    node->value = value;
    // yaml-cpp gives untagged plain scalars the non-specific tag "?", quoted ones "!".
    node->plain = tag == "?";
    finish(std::move(node), anchor);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, anchor, yaml_node::type::sequence);
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, anchor, yaml_node::type::mapping);
  }
  void OnMapEnd() override { close(); }

 private:
  struct frame {
    std::shared_ptr<yaml_node> node;
    YAML::anchor_t anchor = 0;
    yaml_node_ptr pending_key;
  };

  void fail(const YAML::Mark& mark, std::string message) {
    failed_ = true;
    at_ = to_mark(mark);
    error_ = std::move(message);
  }

  bool count_new(const YAML::Mark& mark) {
    if (++nodes_ > budget_.max_nodes) {
      fail(mark, "more than " + std::to_string(budget_.max_nodes) + " YAML nodes in one file");
      return false;
    }
    return true;
  }

  void open(const YAML::Mark& mark, YAML::anchor_t anchor, yaml_node::type kind) {
    if (failed_ || !count_new(mark)) {
      return;
    }
    if (stack_.size() + 1 > budget_.max_depth) {
      fail(mark, "nesting deeper than " + std::to_string(budget_.max_depth)
                     + " levels (mappings and lists)");
      return;
    }
    auto node = std::make_shared<yaml_node>();
    node->kind = kind;
    node->mark = to_mark(mark);
    node->height = 1;
    stack_.push_back(frame{std::move(node), anchor, nullptr});
  }

  void close() {
    if (failed_ || stack_.empty()) {
      return;
    }
    frame top = std::move(stack_.back());
    stack_.pop_back();
    finish(std::move(top.node), top.anchor);
  }

  // An anchored node becomes visible to aliases only once complete, which is what rules out
  // recursive structures.
  void finish(std::shared_ptr<yaml_node> node, YAML::anchor_t anchor) {
    yaml_node_ptr done = std::move(node);
    if (anchor != 0) {
      anchors_[anchor] = done;
    }
    attach(std::move(done));
  }

  void attach(yaml_node_ptr node) {
    if (stack_.empty()) {
      root_ = std::move(node);
      return;
    }
    frame& parent = stack_.back();
    parent.node->expanded += node->expanded;
    parent.node->height = std::max(parent.node->height, node->height + 1);
    if (parent.node->kind == yaml_node::type::sequence) {
      parent.node->items.push_back(std::move(node));
    } else if (!parent.pending_key) {
      parent.pending_key = std::move(node);
    } else {
      parent.node->entries.emplace_back(std::move(parent.pending_key), std::move(node));
      parent.pending_key.reset();
    }
  }

  const yaml_budget& budget_;
  std::vector<frame> stack_;
  std::unordered_map<YAML::anchor_t, yaml_node_ptr> anchors_;
  yaml_node_ptr root_;
  yaml_mark doc_start_;
  size_t nodes_ = 0;
  size_t aliases_ = 0;
  bool failed_ = false;
  std::string error_;
  yaml_mark at_;
};

}  // namespace

std::string yaml_prescan(std::string_view text, const yaml_budget& budget, yaml_mark& at) {
  if (text.size() > budget.max_bytes) {
    at = {};
    return "file is " + std::to_string(text.size()) + " bytes, over the limit of "
           + std::to_string(budget.max_bytes) + " bytes";
  }
  return nesting_scan(text, budget.max_depth).run(at);
}

yaml_file yaml_read(std::string_view text, const yaml_budget& budget,
                    const yaml_document_sink& sink) {
  yaml_file out;
  if (std::string problem = yaml_prescan(text, budget, out.at); !problem.empty()) {
    out.failed = true;
    out.error = std::move(problem);
    return out;
  }
  tree_builder builder(budget);
  size_t documents = 0;
  try {
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(builder)) {
      if (builder.failed()) {
        out.failed = true;
        out.error = builder.error();
        out.at = builder.at();
        return out;
      }
      yaml_mark start = builder.doc_start();
      if (++documents > budget.max_documents) {
        out.failed = true;
        out.error = "more than " + std::to_string(budget.max_documents) + " documents in one file";
        out.at = start;
        return out;
      }
      sink(yaml_document{builder.take_root(), start});
    }
  } catch (const YAML::Exception& e) {
    out.failed = true;
    out.error = "YAML syntax error: " + e.msg;
    out.at = to_mark(e.mark);
  } catch (const std::bad_alloc&) {
    out.failed = true;
    out.error = "out of memory while parsing";
  } catch (const std::exception& e) {
    out.failed = true;
    out.error = std::string("YAML parser failed: ") + e.what();
  }
  return out;
}

}  // namespace sluice::model
