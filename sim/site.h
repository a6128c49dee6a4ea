// A Site names a place in simulated code: a yield point, a choice, a lock
// acquisition. Its hash is computed from the name's characters (never an
// address), at compile time for literals, so that events feed the run's
// digest identically in every process.
#ifndef FSIM_SIM_SITE_H_
#define FSIM_SIM_SITE_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace fsim::sim {

// FNV-1a over the bytes of `s`. Used for names only (short strings); the
// digest itself uses xxHash.
constexpr uint64_t NameHash(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

// Two words (a NUL-terminated name and its hash), so that it is passed
// in registers: every scheduling point takes one, and a Site of three
// words went through memory (the caller's two 8-byte stores read back as
// one 16-byte load, a store-forwarding stall at every yield).
class Site {
 public:
  // From a string literal: the hash is computed at compile time.
  consteval Site(const char* name)  // NOLINT: implicit on purpose.
      : name_(name), hash_(NameHash(name)) {}

  // From a name only known at run time (e.g. an operation of a scenario
  // file). REQUIRES: `name` outlives every use of the Site.
  static Site Runtime(const std::string& name) { return Site(name.c_str(), NameHash(name)); }

  // Not a hot path: the name is measured where it is read (tracers,
  // reports).
  std::string_view name() const { return name_; }
  uint64_t hash() const { return hash_; }

 private:
  Site(const char* name, uint64_t hash) : name_(name), hash_(hash) {}

  const char* name_;
  uint64_t hash_;
};
static_assert(sizeof(Site) == 16, "a Site is passed in two registers");

}  // namespace fsim::sim

#endif  // FSIM_SIM_SITE_H_
