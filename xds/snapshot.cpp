#include "xds/snapshot.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "model/resource.hpp"

namespace sluice::xds {

namespace {

// The wyhash constants and its 64x64->128 multiply-fold.
constexpr uint64_t k0 = 0xa0761d6478bd642fULL;
constexpr uint64_t k1 = 0xe7037ed1a0b428dbULL;
constexpr uint64_t k2 = 0x8ebc6af09c88c6e3ULL;
constexpr uint64_t k3 = 0x589965cc75374cc3ULL;

inline void mum(uint64_t& a, uint64_t& b) {
  const __uint128_t r = static_cast<__uint128_t>(a) * b;
  a = static_cast<uint64_t>(r);
  b = static_cast<uint64_t>(r >> 64);
}

inline uint64_t fold(uint64_t a, uint64_t b) {
  mum(a, b);
  return a ^ b;
}

// Little-endian reads, so every machine computes the same versions.
inline uint64_t load64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::big) {
    v = __builtin_bswap64(v);
  }
  return v;
}

inline uint64_t load32(const unsigned char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  if constexpr (std::endian::native == std::endian::big) {
    v = __builtin_bswap32(v);
  }
  return v;
}

bool read_varint(const unsigned char*& p, const unsigned char* end, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (p == end) {
      return false;
    }
    const unsigned char b = *p++;
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      return true;
    }
  }
  return false;
}

// The field-by-field version, or nothing when `bytes` is not a sequence of well-formed fields.
std::optional<std::string> fields_version(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* end = p + bytes.size();
  resource_hasher h;
  while (p < end) {
    uint64_t key = 0;
    if (!read_varint(p, end, key) || (key >> 3) == 0) {
      return std::nullopt;
    }
    const unsigned char* start = p;
    switch (key & 7) {
      case 0: {
        uint64_t v = 0;
        if (!read_varint(p, end, v)) {
          return std::nullopt;
        }
        break;
      }
      case 1:
        if (end - p < 8) {
          return std::nullopt;
        }
        p += 8;
        break;
      case 2: {
        uint64_t n = 0;
        if (!read_varint(p, end, n) || static_cast<uint64_t>(end - p) < n) {
          return std::nullopt;
        }
        start = p;
        p += n;
        break;
      }
      case 5:
        if (end - p < 4) {
          return std::nullopt;
        }
        p += 4;
        break;
      default:  // groups: never written by the serializer for these types
        return std::nullopt;
    }
    h.add(field_hash(key, {reinterpret_cast<const char*>(start), static_cast<size_t>(p - start)}));
  }
  return h.finish(bytes.size());
}

// Ownership test for copy on write. Counts only grow through an existing owner, so a count of
// one means nobody else can reach the object; the fence orders our writes after the other
// owners' last reads (their releases).
template <class T>
bool owned(const std::shared_ptr<T>& p) {
  if (p.use_count() == 1) {
    std::atomic_thread_fence(std::memory_order_acquire);
    return true;
  }
  return false;
}

constexpr size_t chunk_target = 64;

bool name_less(const resource_map::value_type& e, std::string_view name) {
  return std::string_view(e.first) < name;
}

}  // namespace

// --- content hashes -----------------------------------------------------------------------------

uint64_t bytes_hash(std::string_view bytes, uint64_t seed) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t len = bytes.size();
  seed ^= fold(seed ^ k0, k1);
  uint64_t a = 0;
  uint64_t b = 0;
  if (len <= 16) {
    if (len >= 4) {
      const size_t mid = (len >> 3) << 2;
      a = (load32(p) << 32) | load32(p + mid);
      b = (load32(p + len - 4) << 32) | load32(p + len - 4 - mid);
    } else if (len > 0) {
      a = (static_cast<uint64_t>(p[0]) << 16) | (static_cast<uint64_t>(p[len >> 1]) << 8) |
          p[len - 1];
    }
  } else {
    size_t i = len;
    if (i > 48) {
      uint64_t s1 = seed;
      uint64_t s2 = seed;
      do {
        seed = fold(load64(p) ^ k1, load64(p + 8) ^ seed);
        s1 = fold(load64(p + 16) ^ k2, load64(p + 24) ^ s1);
        s2 = fold(load64(p + 32) ^ k3, load64(p + 40) ^ s2);
        p += 48;
        i -= 48;
      } while (i > 48);
      seed ^= s1 ^ s2;
    }
    while (i > 16) {
      seed = fold(load64(p) ^ k1, load64(p + 8) ^ seed);
      i -= 16;
      p += 16;
    }
    // The last 16 bytes (overlapping what came before when fewer remain).
    a = load64(p + i - 16);
    b = load64(p + i - 8);
  }
  a ^= k1;
  b ^= seed;
  mum(a, b);
  return fold(a ^ k0 ^ len, b ^ k1);
}

uint64_t field_hash(uint64_t key, std::string_view payload) {
  return bytes_hash(payload, key * k2 + k3);
}

void resource_hasher::add(uint64_t field_hash) {
  state_ = fold(state_ ^ k0, field_hash ^ k2) ^ field_hash;
  ++fields_;
}

std::string resource_hasher::finish(size_t total_bytes) const {
  return model::hash_hex(fold(state_ ^ k1 ^ total_bytes, fields_ ^ k3));
}

std::string resource_version(std::string_view bytes) {
  if (auto v = fields_version(bytes)) {
    return std::move(*v);
  }
  return model::hash_hex(bytes_hash(bytes, k2) ^ k0);
}

std::pair<uint64_t, uint64_t> member_hash(std::string_view name, std::string_view version) {
  const uint64_t n = bytes_hash(name, k0);
  const uint64_t a = bytes_hash(version, n);
  return {a, fold(a ^ k2, n ^ k3)};
}

std::string members_version(std::pair<uint64_t, uint64_t> sums, size_t count) {
  if (count == 0) {
    return {};
  }
  return model::hash_hex(fold(sums.first ^ k1 ^ count, sums.second ^ k2));
}

std::string members_version(const std::vector<xds_resource_ptr>& resources) {
  std::pair<uint64_t, uint64_t> sums{0, 0};
  for (const auto& r : resources) {
    const auto h = member_hash(r->name, r->version);
    sums.first += h.first;
    sums.second += h.second;
  }
  return members_version(sums, resources.size());
}

// --- resource_map -------------------------------------------------------------------------------

const std::vector<resource_map::chunk_ptr>& resource_map::chunks() const {
  static const std::vector<chunk_ptr> none;
  return table_ ? table_->chunks : none;
}

std::pair<size_t, size_t> resource_map::locate(std::string_view name) const {
  const auto& cs = chunks();
  if (cs.empty()) {
    return {0, 0};
  }
  // The first chunk whose last name is not below `name`; past the end, the last chunk's end.
  size_t lo = 0;
  size_t hi = cs.size();
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    if (std::string_view(cs[mid]->entries.back().first) < name) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo == cs.size()) {
    return {cs.size() - 1, cs.back()->entries.size()};
  }
  const auto& es = cs[lo]->entries;
  return {lo, static_cast<size_t>(std::lower_bound(es.begin(), es.end(), name, name_less) -
                                  es.begin())};
}

resource_map::const_iterator resource_map::find(std::string_view name) const {
  const auto [c, e] = locate(name);
  const auto& cs = chunks();
  if (c < cs.size() && e < cs[c]->entries.size() && cs[c]->entries[e].first == name) {
    return {&cs, c, e};
  }
  return end();
}

const xds_resource_ptr& resource_map::at(std::string_view name) const {
  const auto i = find(name);
  if (i == end()) {
    throw std::out_of_range("resource_map::at: no resource " + std::string(name));
  }
  return i->second;
}

resource_map::table& resource_map::own_table() {
  if (!table_) {
    table_ = std::make_shared<table>();
  } else if (!owned(table_)) {
    table_ = std::make_shared<table>(*table_);
  }
  return *table_;
}

resource_map::chunk& resource_map::own_chunk(table& t, size_t c) {
  auto& p = t.chunks[c];
  if (!owned(p)) {
    p = std::make_shared<chunk>(*p);
  }
  p->summed = false;  // the caller writes to it
  return *p;
}

xds_resource_ptr& resource_map::operator[](std::string_view name) {
  const auto [c, e] = locate(name);
  auto& t = own_table();
  if (t.chunks.empty()) {
    auto ch = std::make_shared<chunk>();
    ch->entries.emplace_back(std::string(name), nullptr);
    t.chunks.push_back(ch);
    t.size = 1;
    return ch->entries.front().second;
  }
  auto& ch = own_chunk(t, c);
  if (e < ch.entries.size() && ch.entries[e].first == name) {
    return ch.entries[e].second;
  }
  ch.entries.emplace(ch.entries.begin() + static_cast<std::ptrdiff_t>(e), std::string(name),
                     nullptr);
  ++t.size;
  if (ch.entries.size() <= 2 * chunk_target) {
    return ch.entries[e].second;
  }
  // Split in halves; the new entry is in one of them.
  const size_t half = ch.entries.size() / 2;
  auto right = std::make_shared<chunk>();
  const auto middle = ch.entries.begin() + static_cast<std::ptrdiff_t>(half);
  right->entries.assign(std::make_move_iterator(middle), std::make_move_iterator(ch.entries.end()));
  ch.entries.resize(half);
  t.chunks.insert(t.chunks.begin() + static_cast<std::ptrdiff_t>(c + 1), right);
  return e < half ? t.chunks[c]->entries[e].second : right->entries[e - half].second;
}

void resource_map::insert_or_assign(std::string_view name, xds_resource_ptr resource) {
  (*this)[name] = std::move(resource);
}

size_t resource_map::erase(std::string_view name) {
  const auto [c, e] = locate(name);
  {
    const auto& cs = chunks();
    if (c >= cs.size() || e >= cs[c]->entries.size() || cs[c]->entries[e].first != name) {
      return 0;
    }
  }
  auto& t = own_table();
  auto& ch = own_chunk(t, c);
  ch.entries.erase(ch.entries.begin() + static_cast<std::ptrdiff_t>(e));
  --t.size;
  if (ch.entries.empty()) {
    t.chunks.erase(t.chunks.begin() + static_cast<std::ptrdiff_t>(c));
    return 1;
  }
  // Keep chunks from thinning out under deletions: merge a small one with its successor.
  if (ch.entries.size() < chunk_target / 4 && c + 1 < t.chunks.size() &&
      ch.entries.size() + t.chunks[c + 1]->entries.size() <= chunk_target) {
    const auto& next = t.chunks[c + 1]->entries;
    ch.entries.insert(ch.entries.end(), next.begin(), next.end());
    t.chunks.erase(t.chunks.begin() + static_cast<std::ptrdiff_t>(c + 1));
  }
  return 1;
}

std::pair<uint64_t, uint64_t> resource_map::member_sums() {
  std::pair<uint64_t, uint64_t> sums{0, 0};
  if (!table_) {
    return sums;
  }
  // Cache a chunk's sums only where nobody else can see it (see owned()).
  const bool table_owned = owned(table_);
  for (auto& c : table_->chunks) {
    if (!c->summed) {
      uint64_t a = 0;
      uint64_t b = 0;
      for (const auto& [name, r] : c->entries) {
        const auto h = member_hash(name, r ? std::string_view(r->version) : std::string_view());
        a += h.first;
        b += h.second;
      }
      if (!(table_owned && owned(c))) {
        sums.first += a;
        sums.second += b;
        continue;
      }
      c->sum_a = a;
      c->sum_b = b;
      c->summed = true;
    }
    sums.first += c->sum_a;
    sums.second += c->sum_b;
  }
  return sums;
}

bool operator==(const resource_map& a, const resource_map& b) {
  if (a.size() != b.size()) {
    return false;
  }
  return std::equal(a.begin(), a.end(), b.begin(), [](const auto& x, const auto& y) {
    return x.first == y.first && x.second == y.second;
  });
}

// --- snapshots ----------------------------------------------------------------------------------

const typed_resources& snapshot::of(std::string_view type_url) const {
  static const typed_resources empty;
  auto i = types.find(type_url);
  return i == types.end() ? empty : i->second;
}

void seal(typed_resources& set) {
  set.version = members_version(set.items.member_sums(), set.items.size());
}

void seal(snapshot& snap) {
  for (auto& [type, set] : snap.types) {
    seal(set);
  }
}

}  // namespace sluice::xds
