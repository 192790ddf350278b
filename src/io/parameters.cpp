#include "io/parameters.h"

#include <unicode/uchar.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "core/error.h"

namespace i2i {

namespace {

using U32 = std::u32string;

// Decodes `s` into `out`; std::string::npos, or the offset of the first byte that is not valid UTF-8
// (s.size() for a sequence cut short by the end).
size_t decode_utf8_at(const std::string& s, U32* out) {
  out->reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    auto b = static_cast<unsigned char>(s[i]);
    char32_t cp;
    int extra;
    if (b < 0x80) {
      cp = b, extra = 0;
    } else if ((b & 0xE0) == 0xC0) {
      cp = b & 0x1F, extra = 1;
    } else if ((b & 0xF0) == 0xE0) {
      cp = b & 0x0F, extra = 2;
    } else if ((b & 0xF8) == 0xF0) {
      cp = b & 0x07, extra = 3;
    } else {
      return i;
    }
    if (extra > 0 && i + extra >= s.size()) return s.size();
    for (int k = 1; k <= extra; ++k) {
      auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return i + k;
      cp = (cp << 6) | (c & 0x3F);
    }
    static const char32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    out->push_back(cp);
    i += 1 + extra;
  }
  return std::string::npos;
}

U32 decode_utf8(const std::string& s, const char* what) {
  U32 out;
  const size_t bad = decode_utf8_at(s, &out);
  if (bad == s.size())
    throw Error(std::string(what) + ": text is not valid UTF-8 (truncated sequence at the end)");
  if (bad != std::string::npos)
    throw Error(std::string(what) + ": text is not valid UTF-8 (byte " + std::to_string(bad) + ")");
  return out;
}

std::string encode_utf8(const char32_t* p, size_t n) {
  std::string out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    char32_t c = p[i];
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (c >> 12)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (c >> 18)));
      out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}
std::string encode_utf8(const U32& s) {
  return encode_utf8(s.data(), s.size());
}

// Python's str.isspace() / regex \s: general category Zs or bidirectional class WS, B or S.
bool is_space(char32_t c) {
  auto cp = static_cast<UChar32>(c);
  if (u_charType(cp) == U_SPACE_SEPARATOR) return true;
  auto dir = u_charDirection(cp);
  return dir == U_WHITE_SPACE_NEUTRAL || dir == U_BLOCK_SEPARATOR || dir == U_SEGMENT_SEPARATOR;
}

// Python's regex \w for str patterns: str.isalnum() (letters, or any numeric type) or '_'.
bool is_word(char32_t c) {
  if (c == '_') return true;
  auto cp = static_cast<UChar32>(c);
  return u_isalpha(cp) || u_getIntPropertyValue(cp, UCHAR_NUMERIC_TYPE) != U_NT_NONE;
}

bool is_key_char(char32_t c) {
  return is_word(c) || c == ' ' || c == '-' || c == '/';
}

U32 strip(const U32& s) {
  size_t a = 0, b = s.size();
  while (a < b && is_space(s[a])) ++a;
  while (b > a && is_space(s[b - 1])) --b;
  return s.substr(a, b - a);
}

struct Match {
  U32 key, value;
  size_t end = 0;
};

// One attempt of \s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$) at `pos` (see the header for why this
// hand-written matcher takes the same decisions as Python's backtracking engine on this pattern). On failure
// `*resume` is the next position where an attempt could succeed: every start before it fails the same way
// (it skips the same spaces, or ends the same run of key characters without a ':'), which keeps find_all
// linear on long texts without a match.
bool match_at(const U32& s, size_t pos, Match* m, size_t* resume) {
  const size_t n = s.size();
  size_t i = pos;
  while (i < n && is_space(s[i])) ++i;  // \s never overlaps \w, so giving spaces back cannot help
  if (i >= n || !is_word(s[i])) {
    *resume = i + 1;
    return false;
  }
  const size_t ks = i++;
  while (i < n && is_key_char(s[i])) ++i;  // ':' is outside the class, so only the longest run can work
  if (i - ks < 2 || i >= n || s[i] != ':') {
    *resume = i;
    return false;
  }
  m->key = s.substr(ks, i - ks);
  ++i;
  while (i < n && is_space(s[i])) ++i;
  // Alternative 1: a quoted string with backslash escapes, directly followed by ',' or the end.
  if (i < n && s[i] == '"') {
    size_t j = i + 1, count = 0;
    bool closed = false;
    while (j < n) {
      if (s[j] == '\\') {
        if (j + 1 < n && s[j + 1] != '\n') {
          j += 2, ++count;
          continue;
        }
        break;
      }
      if (s[j] == '"') {
        closed = true;
        break;
      }
      ++j, ++count;
    }
    if (closed && count >= 1 && (j + 1 == n || s[j + 1] == ',')) {
      m->value = s.substr(i, j + 1 - i);
      m->end = j + 1 == n ? n : j + 2;
      return true;
    }
  }
  // Alternative 2: everything up to the next ',' (always matches).
  size_t j = i;
  while (j < n && s[j] != ',') ++j;
  m->value = s.substr(i, j - i);
  m->end = j < n ? j + 1 : j;
  return true;
}

std::vector<Match> find_all(const U32& s) {
  std::vector<Match> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    Match m;
    size_t resume = pos + 1;
    if (match_at(s, pos, &m, &resume)) {
      pos = m.end > pos ? m.end : pos + 1;
      out.push_back(std::move(m));
    } else {
      pos = std::max(resume, pos + 1);
    }
  }
  return out;
}

// Python's json.loads for a string literal; nullopt where it would raise.
std::optional<std::string> json_unquote(const std::string& text) {
  try {
    auto j = nlohmann::json::parse(text);
    if (!j.is_string()) return std::nullopt;
    return j.get<std::string>();
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

bool starts_with(const U32& s, const char* prefix) {
  size_t i = 0;
  for (; prefix[i] != 0; ++i)
    if (i >= s.size() || s[i] != static_cast<char32_t>(static_cast<unsigned char>(prefix[i]))) return false;
  return true;
}

}  // namespace

std::optional<std::string> GenerationParameters::get(const std::string& key) const {
  for (const auto& [k, v] : params)
    if (k == key) return v;
  return std::nullopt;
}

void GenerationParameters::set(const std::string& key, const std::string& value) {
  for (auto& [k, v] : params) {
    if (k == key) {
      v = value;
      return;
    }
  }
  params.emplace_back(key, value);
}

std::string quote_parameter_value(const std::string& value) {
  U32 v = decode_utf8(value, "generation parameter value");
  bool needs = v.empty() || is_space(v.front()) || is_space(v.back());
  for (char32_t c : v)
    if (c == ',' || c == ':' || c == '"' || c == '\n' || c < 0x20) needs = true;
  if (!needs) return value;
  // json.dumps(value, ensure_ascii=False).
  std::string out = "\"";
  static const char* kHex = "0123456789abcdef";
  for (char c : value) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += "\\u00";
          out.push_back(kHex[(c >> 4) & 0xF]);
          out.push_back(kHex[c & 0xF]);
        } else {
          out.push_back(c);
        }
    }
  }
  out += "\"";
  return out;
}

std::string format_parameters(const GenerationParameters& p) {
  decode_utf8(p.prompt, "prompt");
  decode_utf8(p.negative_prompt, "negative prompt");
  std::string line;
  for (const auto& [key, value] : p.params) {
    U32 k = decode_utf8(key, "generation parameter key");
    bool ok = k.size() >= 2 && is_word(k[0]);
    for (char32_t c : k) ok = ok && is_key_char(c);
    if (!ok)
      throw Error(
          "generation parameter key '" + key +
          "' cannot be read back (it must be a letter, digit or '_' followed by at least one letter, digit, "
          "'_', ' ', '-' or '/')");
    if (!line.empty()) line += ", ";
    line += key + ": " + quote_parameter_value(value);
  }
  std::string text = p.prompt;
  if (!p.negative_prompt.empty()) text += "\nNegative prompt: " + p.negative_prompt;
  text += "\n" + line;
  return encode_utf8(strip(decode_utf8(text, "generation parameters")));
}

GenerationParameters parse_parameters(const std::string& text) {
  if (text.size() > kMaxParametersBytes)
    throw Error("generation parameters: " + std::to_string(text.size()) + " bytes, more than the " +
                std::to_string(kMaxParametersBytes) + " a parameters text may have");
  const U32 all = strip(decode_utf8(text, "generation parameters"));
  std::vector<U32> lines;
  size_t start = 0;
  for (size_t i = 0; i <= all.size(); ++i) {
    if (i == all.size() || all[i] == '\n') {
      lines.push_back(all.substr(start, i - start));
      start = i + 1;
    }
  }
  U32 last = lines.back();
  lines.pop_back();
  std::vector<Match> matches = find_all(last);
  if (matches.size() < 3) {
    lines.push_back(last);
    matches.clear();
  }

  GenerationParameters out;
  U32 prompt, negative;
  bool done_with_prompt = false;
  for (U32 line : lines) {
    line = strip(line);
    if (starts_with(line, "Negative prompt:")) {
      done_with_prompt = true;
      line = strip(line.substr(16));
    }
    U32& target = done_with_prompt ? negative : prompt;
    if (!target.empty()) target.push_back('\n');
    target += line;
  }
  out.prompt = encode_utf8(prompt);
  out.negative_prompt = encode_utf8(negative);

  // A later value of a key replaces the earlier one in its place (a dict, as A1111 keeps them); the index
  // keeps that linear in the number of keys.
  std::unordered_map<std::string, size_t> index;
  for (const Match& m : matches) {
    if (m.value.empty()) continue;  // A1111 fails on v[0] and skips the pair
    std::string value = encode_utf8(m.value);
    if (m.value.front() == '"' && m.value.back() == '"') {
      if (auto unquoted = json_unquote(value)) value = *unquoted;
    }
    std::string key = encode_utf8(m.key);
    if (auto it = index.find(key); it != index.end()) {
      out.params[it->second].second = std::move(value);
    } else {
      index.emplace(key, out.params.size());
      out.params.emplace_back(std::move(key), std::move(value));
    }
  }
  return out;
}

size_t invalid_utf8_at(const std::string& text) {
  U32 ignored;
  return decode_utf8_at(text, &ignored);
}

}  // namespace i2i
