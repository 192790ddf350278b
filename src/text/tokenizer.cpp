#include "text/tokenizer.h"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "core/error.h"
#include "core/user_cache.h"
#include "io/config_file.h"
#include "io/hf_cache.h"
#include "io/regular_file.h"

namespace i2i {
namespace {

namespace fs = std::filesystem;

constexpr const char* kBosToken = "<|startoftext|>";
constexpr const char* kEosToken = "<|endoftext|>";
// Hugging Face keeps merges.txt lines 1 .. 49152 - 256 - 2 (the CLIP vocabulary size minus bytes and
// specials).
constexpr size_t kClipMerges = 48894;
constexpr size_t kClipVocab = 49408;
constexpr int kClipBos = 49406;
constexpr int kClipEos = 49407;
// The BPE cache is cleared when it grows past this many words (a long-running process sees unbounded text).
constexpr size_t kMaxCacheEntries = 200000;

std::string read_file(const fs::path& file, const char* what) {
  try {
    return read_regular_file(file, static_cast<size_t>(kMaxTokenizerFileBytes),
                             std::string("a tokenizer ") + what);
  } catch (const Error& e) {
    throw Error(std::string(what) + " " + e.what());
  }
}

// ---- Unicode helpers (ICU) ----

std::u32string decode_utf8(std::string_view s) {
  if (s.size() > static_cast<size_t>(INT32_MAX)) throw Error("text too long to tokenize");
  std::u32string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  int32_t i = 0, n = static_cast<int32_t>(s.size());
  while (i < n) {
    int32_t start = i;
    UChar32 c;
    U8_NEXT(p, i, n, c);
    if (c < 0) throw Error("text is not valid UTF-8 (bad byte at offset " + std::to_string(start) + ")");
    out.push_back(static_cast<char32_t>(c));
  }
  return out;
}

void append_utf8(std::string& out, char32_t c) {
  uint8_t buf[4];
  int32_t len = 0;
  U8_APPEND_UNSAFE(buf, len, static_cast<UChar32>(c));
  out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(len));
}

std::u16string to_utf16(const std::u32string& s) {
  std::u16string out;
  out.reserve(s.size());
  for (char32_t c : s) {
    if (c <= 0xFFFF) {
      out.push_back(static_cast<char16_t>(c));
    } else {
      out.push_back(static_cast<char16_t>(U16_LEAD(c)));
      out.push_back(static_cast<char16_t>(U16_TRAIL(c)));
    }
  }
  return out;
}

std::u32string from_utf16(const std::u16string& s) {
  std::u32string out;
  out.reserve(s.size());
  int32_t i = 0, n = static_cast<int32_t>(s.size());
  while (i < n) {
    UChar32 c;
    U16_NEXT(s.data(), i, n, c);
    out.push_back(static_cast<char32_t>(c));
  }
  return out;
}

uint32_t category_mask(char32_t c) {
  return U_GET_GC_MASK(static_cast<UChar32>(c));
}

// Python's str.isspace(): bidirectional class WS, B or S, or category Zs.
bool is_python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

bool is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

std::u16string icu_nfc(const std::u16string& s) {
  UErrorCode err = U_ZERO_ERROR;
  const UNormalizer2* nfc = unorm2_getNFCInstance(&err);
  if (U_FAILURE(err)) throw Error(std::string("ICU NFC normaliser unavailable: ") + u_errorName(err));
  std::u16string out(s.size() + 16, u'\0');
  int32_t len = unorm2_normalize(nfc, s.data(), static_cast<int32_t>(s.size()), out.data(),
                                 static_cast<int32_t>(out.size()), &err);
  if (err == U_BUFFER_OVERFLOW_ERROR) {
    err = U_ZERO_ERROR;
    out.assign(static_cast<size_t>(len), u'\0');
    len = unorm2_normalize(nfc, s.data(), static_cast<int32_t>(s.size()), out.data(),
                           static_cast<int32_t>(out.size()), &err);
  }
  if (U_FAILURE(err)) throw Error(std::string("ICU NFC normalisation failed: ") + u_errorName(err));
  out.resize(static_cast<size_t>(len));
  return out;
}

// Full case mapping with the root locale (context-sensitive final sigma included), as Python's str.lower().
std::u16string icu_lower(const std::u16string& s) {
  UErrorCode err = U_ZERO_ERROR;
  std::u16string out(s.size() * 3 + 16, u'\0');
  int32_t len = u_strToLower(out.data(), static_cast<int32_t>(out.size()), s.data(),
                             static_cast<int32_t>(s.size()), "", &err);
  if (err == U_BUFFER_OVERFLOW_ERROR) {
    err = U_ZERO_ERROR;
    out.assign(static_cast<size_t>(len), u'\0');
    len = u_strToLower(out.data(), static_cast<int32_t>(out.size()), s.data(), static_cast<int32_t>(s.size()),
                       "", &err);
  }
  if (U_FAILURE(err)) throw Error(std::string("ICU lower-casing failed: ") + u_errorName(err));
  out.resize(static_cast<size_t>(len));
  return out;
}

// transformers' BasicTokenizer(do_lower_case, strip_accents=False, do_split_on_punc=False): the lower-cased
// words.
std::vector<std::u32string> basic_tokenize(const std::u32string& text) {
  std::u32string cleaned;
  cleaned.reserve(text.size());
  for (char32_t c : text) {
    if (c == 0 || c == 0xFFFD) continue;
    bool tnr = c == U'\t' || c == U'\n' || c == U'\r';
    uint32_t gc = category_mask(c);
    if (!tnr && (gc & U_GC_C_MASK)) continue;
    if (tnr || c == U' ' || (gc & U_GC_ZS_MASK)) {
      cleaned.push_back(U' ');
    } else if (is_cjk(c)) {
      cleaned.push_back(U' ');
      cleaned.push_back(c);
      cleaned.push_back(U' ');
    } else {
      cleaned.push_back(c);
    }
  }
  std::u32string normalized = from_utf16(icu_nfc(to_utf16(cleaned)));
  std::vector<std::u32string> words;
  size_t i = 0;
  while (i < normalized.size()) {
    while (i < normalized.size() && is_python_space(normalized[i])) ++i;
    size_t start = i;
    while (i < normalized.size() && !is_python_space(normalized[i])) ++i;
    if (i > start) words.push_back(from_utf16(icu_lower(to_utf16(normalized.substr(start, i - start)))));
  }
  return words;
}

bool is_letter(char32_t c) {
  return category_mask(c) & U_GC_L_MASK;
}
bool is_number(char32_t c) {
  return category_mask(c) & U_GC_N_MASK;
}

// The pattern's literals match case-insensitively (simple case folding): after lower-casing only U+017F
// (long s, folds to 's') can stand for one of them.
bool matches_ci(char32_t c, char32_t lower_ascii) {
  return c == lower_ascii || (lower_ascii == U's' && c == 0x17F);
}

bool starts_with(const std::u32string& s, size_t pos, std::string_view ascii) {
  if (s.size() - pos < ascii.size()) return false;
  for (size_t k = 0; k < ascii.size(); ++k)
    if (s[pos + k] != static_cast<char32_t>(ascii[k])) return false;
  return true;
}

// Length of the contraction ('s 't 're 've 'm 'll 'd) at pos, or 0.
size_t contraction_length(const std::u32string& s, size_t pos) {
  if (s[pos] != U'\'' || pos + 1 >= s.size()) return 0;
  char32_t a = s[pos + 1];
  for (char32_t one : {U's', U't', U'm', U'd'})
    if (matches_ci(a, one)) return 2;
  if (pos + 2 < s.size()) {
    char32_t b = s[pos + 2];
    if ((matches_ci(a, U'r') || matches_ci(a, U'v')) && matches_ci(b, U'e')) return 3;
    if (matches_ci(a, U'l') && matches_ci(b, U'l')) return 3;
  }
  return 0;
}

// re.findall of the CLIP pattern over one whitespace-free word.
template <typename Fn>
void for_each_match(const std::u32string& w, Fn&& fn) {
  size_t i = 0;
  while (i < w.size()) {
    size_t len = 0;
    if (starts_with(w, i, kBosToken)) {
      len = std::string_view(kBosToken).size();
    } else if (starts_with(w, i, kEosToken)) {
      len = std::string_view(kEosToken).size();
    } else if ((len = contraction_length(w, i)) != 0) {
    } else if (is_letter(w[i])) {
      len = 1;
      while (i + len < w.size() && is_letter(w[i + len])) ++len;
    } else if (is_number(w[i])) {
      len = 1;
    } else if (is_python_space(w[i])) {
      ++i;  // not matched by any alternative (cannot occur inside a word; kept for fidelity)
      continue;
    } else {
      len = 1;
      while (i + len < w.size() && !is_python_space(w[i + len]) && !is_letter(w[i + len]) &&
             !is_number(w[i + len]))
        ++len;
    }
    fn(w.substr(i, len));
    i += len;
  }
}

// GPT-2's bytes_to_unicode(): printable bytes map to themselves, the rest to U+0100 onwards.
std::array<std::string, 256> bytes_to_unicode() {
  std::array<char32_t, 256> cp{};
  std::array<bool, 256> direct{};
  for (int b = '!'; b <= '~'; ++b) direct[b] = true;
  for (int b = 0xA1; b <= 0xAC; ++b) direct[b] = true;
  for (int b = 0xAE; b <= 0xFF; ++b) direct[b] = true;
  int n = 0;
  for (int b = 0; b < 256; ++b)
    cp[b] = direct[b] ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
  std::array<std::string, 256> out;
  for (int b = 0; b < 256; ++b) append_utf8(out[b], cp[b]);
  return out;
}

// Splits a file into lines (without '\n' or a trailing '\r').
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    pos = end + 1;
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

// The two whitespace-separated parts of a merge line; false unless there are exactly two.
bool split_merge(std::string_view line, std::string_view& a, std::string_view& b) {
  auto is_ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; };
  std::string_view parts[3];
  int count = 0;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_ws(line[i])) ++i;
    size_t start = i;
    while (i < line.size() && !is_ws(line[i])) ++i;
    if (i > start) {
      if (count == 2) return false;
      parts[count++] = line.substr(start, i - start);
    }
  }
  if (count != 2) return false;
  a = parts[0];
  b = parts[1];
  return true;
}

struct ParsedVocab {
  std::vector<std::string> tokens;  // id -> token
  std::unordered_map<std::string, int> ids;
};

ParsedVocab parse_vocab(const fs::path& file) {
  const std::string where = "vocab.json " + file.string();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(file, "vocab.json"));
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + ": not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object() || j.empty()) throw Error(where + ": expected a JSON object of token -> id");
  ParsedVocab v;
  const size_t n = j.size();
  v.tokens.resize(n);
  std::vector<bool> seen(n, false);
  v.ids.reserve(n * 2);
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_number_integer())
      throw Error(where + ": the id of token '" + it.key() + "' is not an integer");
    int64_t id = it.value().get<int64_t>();
    if (id < 0 || static_cast<size_t>(id) >= n)
      throw Error(where + ": id " + std::to_string(id) + " of token '" + it.key() + "' is outside 0.." +
                  std::to_string(n - 1));
    if (seen[static_cast<size_t>(id)]) throw Error(where + ": id " + std::to_string(id) + " is used twice");
    seen[static_cast<size_t>(id)] = true;
    v.tokens[static_cast<size_t>(id)] = it.key();
    v.ids.emplace(it.key(), static_cast<int>(id));
  }
  for (const char* special : {kBosToken, kEosToken})
    if (!v.ids.count(special)) throw Error(where + ": missing the special token " + special);
  return v;
}

}  // namespace

// ---- validation ----

void check_vocab_file(const fs::path& file, bool expect_clip_sizes) {
  ParsedVocab v = parse_vocab(file);
  if (!expect_clip_sizes) return;
  const std::string where = "vocab.json " + file.string();
  if (v.tokens.size() != kClipVocab)
    throw Error(where + ": " + std::to_string(v.tokens.size()) + " entries, expected " +
                std::to_string(kClipVocab));
  if (v.ids.at(kBosToken) != kClipBos || v.ids.at(kEosToken) != kClipEos)
    throw Error(where + ": <|startoftext|> / <|endoftext|> are not ids 49406 / 49407");
}

void check_merges_file(const fs::path& file, bool expect_clip_sizes) {
  const std::string where = "merges.txt " + file.string();
  std::string text = read_file(file, "merges.txt");
  std::vector<std::string_view> lines = split_lines(text);
  if (lines.empty() || lines[0].substr(0, 8) != "#version")
    throw Error(where + ": missing the '#version' header line");
  for (size_t i = 1; i < lines.size(); ++i) {
    std::string_view a, b;
    if (!split_merge(lines[i], a, b))
      throw Error(where + ": line " + std::to_string(i + 1) + " is not a merge of two symbols");
  }
  if (expect_clip_sizes && lines.size() - 1 != kClipMerges)
    throw Error(where + ": " + std::to_string(lines.size() - 1) + " merges, expected " +
                std::to_string(kClipMerges));
}

// ---- the tokenizer ----

struct ClipTokenizer::Impl {
  ClipTokenizerOptions options;
  std::vector<std::string> tokens;
  std::unordered_map<std::string, int> ids;
  struct Merge {
    int rank;
    int result;
  };
  std::unordered_map<uint64_t, Merge> merges;  // (left id << 32 | right id) -> rank, merged id
  std::array<int, 256> byte_id{};              // byte -> id of its bytes_to_unicode symbol
  std::array<int, 256> byte_end_id{};          // the same symbol + "</w>"
  int bos = -1, eos = -1, bang = -1;

  mutable std::mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<int>> cache;

  static uint64_t key(int a, int b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | uint32_t(b);
  }

  // BPE of one regex match (UTF-8), appended to out.
  void bpe(const std::string& word, std::vector<int>& out) const {
    // Hugging Face seeds its BPE cache with the two special strings, so a match of "<|endoftext|>" (e.g. from
    // a lower-cased "<|ENDOFTEXT|>") becomes the special id itself, without "</w>".
    if (word == kBosToken) return out.push_back(bos);
    if (word == kEosToken) return out.push_back(eos);
    {
      std::lock_guard<std::mutex> lock(cache_mutex);
      auto it = cache.find(word);
      if (it != cache.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    std::vector<int> symbols;
    symbols.reserve(word.size());
    for (size_t i = 0; i < word.size(); ++i) {
      auto b = static_cast<uint8_t>(word[i]);
      symbols.push_back(i + 1 == word.size() ? byte_end_id[b] : byte_id[b]);
    }
    std::vector<int> next;
    while (symbols.size() > 1) {
      int best_rank = INT32_MAX, best_left = -1, best_right = -1, best_result = -1;
      for (size_t i = 0; i + 1 < symbols.size(); ++i) {
        auto it = merges.find(key(symbols[i], symbols[i + 1]));
        if (it != merges.end() && it->second.rank < best_rank) {
          best_rank = it->second.rank;
          best_left = symbols[i];
          best_right = symbols[i + 1];
          best_result = it->second.result;
        }
      }
      if (best_result < 0) break;
      next.clear();
      for (size_t i = 0; i < symbols.size();) {
        if (i + 1 < symbols.size() && symbols[i] == best_left && symbols[i + 1] == best_right) {
          next.push_back(best_result);
          i += 2;
        } else {
          next.push_back(symbols[i]);
          i += 1;
        }
      }
      symbols.swap(next);
    }
    out.insert(out.end(), symbols.begin(), symbols.end());
    std::lock_guard<std::mutex> lock(cache_mutex);
    if (cache.size() >= kMaxCacheEntries) cache.clear();
    cache.emplace(word, std::move(symbols));
  }

  // Tokens of a piece without special tokens.
  void tokenize_plain(const std::u32string& piece, std::vector<int>& out) const {
    std::string utf8;
    for (const std::u32string& word : basic_tokenize(piece)) {
      for_each_match(word, [&](const std::u32string& match) {
        utf8.clear();
        for (char32_t c : match) append_utf8(utf8, c);
        bpe(utf8, out);
      });
    }
  }

  std::vector<int> tokenize(std::string_view text) const {
    std::u32string s = decode_utf8(text);
    std::vector<int> out;
    std::u32string piece;
    size_t i = 0;
    while (i < s.size()) {
      int special = -1;
      size_t len = 0;
      if (starts_with(s, i, kBosToken)) {
        special = bos;
        len = std::string_view(kBosToken).size();
      } else if (starts_with(s, i, kEosToken)) {
        special = eos;
        len = std::string_view(kEosToken).size();
      } else if (options.bang_is_special && s[i] == U'!') {
        special = bang;
        len = 1;
      }
      if (special < 0) {
        piece.push_back(s[i++]);
        continue;
      }
      tokenize_plain(piece, out);
      piece.clear();
      out.push_back(special);
      i += len;
    }
    tokenize_plain(piece, out);
    return out;
  }
};

ClipTokenizer::ClipTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClipTokenizer::ClipTokenizer(ClipTokenizer&&) noexcept = default;
ClipTokenizer& ClipTokenizer::operator=(ClipTokenizer&&) noexcept = default;
ClipTokenizer::~ClipTokenizer() = default;

ClipTokenizer ClipTokenizer::load(const fs::path& dir, const ClipTokenizerOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  const fs::path vocab_file = dir / "vocab.json", merges_file = dir / "merges.txt";
  ParsedVocab v = parse_vocab(vocab_file);
  impl->tokens = std::move(v.tokens);
  impl->ids = std::move(v.ids);
  impl->bos = impl->ids.at(kBosToken);
  impl->eos = impl->ids.at(kEosToken);

  const std::array<std::string, 256> byte_chars = bytes_to_unicode();
  for (int b = 0; b < 256; ++b) {
    auto a = impl->ids.find(byte_chars[b]);
    auto e = impl->ids.find(byte_chars[b] + "</w>");
    if (a == impl->ids.end() || e == impl->ids.end())
      throw Error("vocab.json " + vocab_file.string() + ": missing the byte symbol '" + byte_chars[b] +
                  "' (or its '</w>' form): not a CLIP byte-level BPE vocabulary");
    impl->byte_id[b] = a->second;
    impl->byte_end_id[b] = e->second;
  }
  if (options.bang_is_special) {
    auto it = impl->ids.find("!");
    if (it == impl->ids.end())
      throw Error("vocab.json " + vocab_file.string() + ": no '!' token for bang padding");
    impl->bang = it->second;
  }

  const std::string where = "merges.txt " + merges_file.string();
  std::string text = read_file(merges_file, "merges.txt");
  std::vector<std::string_view> lines = split_lines(text);
  if (lines.empty() || lines[0].substr(0, 8) != "#version")
    throw Error(where + ": missing the '#version' header line");
  const size_t n = std::min(lines.size() - 1, kClipMerges);
  impl->merges.reserve(n * 2);
  std::string joined;
  for (size_t r = 0; r < n; ++r) {
    std::string_view a, b;
    if (!split_merge(lines[r + 1], a, b))
      throw Error(where + ": line " + std::to_string(r + 2) + " is not a merge of two symbols");
    joined.assign(a);
    joined.append(b);
    auto ia = impl->ids.find(std::string(a));
    auto ib = impl->ids.find(std::string(b));
    auto ij = impl->ids.find(joined);
    if (ia == impl->ids.end() || ib == impl->ids.end() || ij == impl->ids.end())
      throw Error(where + ": line " + std::to_string(r + 2) + " ('" + std::string(lines[r + 1]) +
                  "') names a symbol that is not in vocab.json");
    // Python's dict(zip(merges, range(...))) keeps the last rank of a repeated pair.
    impl->merges[Impl::key(ia->second, ib->second)] = Impl::Merge{static_cast<int>(r), ij->second};
  }
  return ClipTokenizer(std::move(impl));
}

ClipTokenizerOptions ClipTokenizer::options_for_folder(const fs::path& dir) {
  ClipTokenizerOptions options;
  for (const char* name : {"special_tokens_map.json", "tokenizer_config.json"}) {
    // Optional files: a missing or unreadable one is skipped, as transformers falls back to defaults.
    nlohmann::json j;
    try {
      j = read_config_json(dir / name);
    } catch (const Error&) {
      continue;
    }
    if (!j.contains("pad_token")) continue;
    const nlohmann::json& pad = j["pad_token"];
    std::string content;
    if (pad.is_string())
      content = pad.get<std::string>();
    else if (pad.is_object() && pad.contains("content") && pad["content"].is_string())
      content = pad["content"].get<std::string>();
    else
      continue;
    options.bang_is_special = content == "!";
    return options;
  }
  return options;
}

std::vector<int> ClipTokenizer::tokenize(std::string_view text) const {
  return impl_->tokenize(text);
}

std::vector<int> ClipTokenizer::encode(std::string_view text) const {
  std::vector<int> inner = impl_->tokenize(text);
  std::vector<int> out;
  out.reserve(inner.size() + 2);
  out.push_back(impl_->bos);
  out.insert(out.end(), inner.begin(), inner.end());
  out.push_back(impl_->eos);
  return out;
}

std::vector<std::string> ClipTokenizer::encode_tokens(std::string_view text) const {
  std::vector<std::string> out;
  for (int id : encode(text)) out.push_back(token(id));
  return out;
}

const std::string& ClipTokenizer::token(int id) const {
  if (id < 0 || static_cast<size_t>(id) >= impl_->tokens.size())
    throw Error("token id " + std::to_string(id) + " is outside the vocabulary (size " +
                std::to_string(impl_->tokens.size()) + ")");
  return impl_->tokens[static_cast<size_t>(id)];
}

int ClipTokenizer::id_of(std::string_view token) const {
  auto it = impl_->ids.find(std::string(token));
  return it == impl_->ids.end() ? -1 : it->second;
}

int ClipTokenizer::bos_id() const {
  return impl_->bos;
}
int ClipTokenizer::eos_id() const {
  return impl_->eos;
}
int ClipTokenizer::pad_id() const {
  return impl_->options.bang_is_special ? impl_->bang : impl_->eos;
}
size_t ClipTokenizer::vocab_size() const {
  return impl_->tokens.size();
}
const ClipTokenizerOptions& ClipTokenizer::options() const {
  return impl_->options;
}

std::vector<int> fit_to_length(const std::vector<int>& ids, size_t length, int pad_id) {
  check(ids.size() >= 2,
        "fit_to_length: expected [bos] + tokens + [eos], got " + std::to_string(ids.size()) + " ids");
  check(length >= 2, "fit_to_length: length must be at least 2");
  std::vector<int> out;
  out.reserve(length);
  if (ids.size() <= length) {
    out = ids;
    out.resize(length, pad_id);
  } else {
    out.assign(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(length - 1));
    out.push_back(ids.back());
  }
  return out;
}

// ---- lookup ----

bool has_tokenizer_files(const fs::path& dir) {
  std::error_code ec;
  return !dir.empty() && fs::is_regular_file(dir / "vocab.json", ec) &&
         fs::is_regular_file(dir / "merges.txt", ec);
}

fs::path default_tokenizer_cache_dir() {
  const fs::path dir = user_cache_dir();
  return dir.empty() ? fs::path() : dir / "tokenizer" / "clip";
}

namespace {
std::string missing_files(const fs::path& dir) {
  std::error_code ec;
  std::string missing;
  for (const char* f : {"vocab.json", "merges.txt"})
    if (!fs::is_regular_file(dir / f, ec)) missing += missing.empty() ? f : std::string(" and ") + f;
  return missing;
}
}  // namespace

fs::path find_tokenizer_dir(const fs::path& explicit_dir, const fs::path& model_dir,
                            const std::string& subfolder) {
  if (!explicit_dir.empty()) {
    if (has_tokenizer_files(explicit_dir)) return explicit_dir;
    throw Error("tokenizer folder " + explicit_dir.string() + " lacks " + missing_files(explicit_dir) +
                " (it needs the vocab.json and merges.txt of a CLIP tokenizer)");
  }
  if (!model_dir.empty() && has_tokenizer_files(model_dir / subfolder)) return model_dir / subfolder;
  if (const char* env = std::getenv("I2I_TOKENIZER"); env && *env) {
    if (has_tokenizer_files(env)) return env;
    throw Error(std::string("I2I_TOKENIZER=") + env + " lacks " + missing_files(env) +
                " (it needs the vocab.json and merges.txt of a CLIP tokenizer)");
  }
  fs::path cache = default_tokenizer_cache_dir();
  if (has_tokenizer_files(cache)) return cache;
  // openai/clip-vit-large-patch14 in the Hugging Face cache (`i2i pull openai/clip-vit-large-patch14
  // vocab.json merges.txt`, or transformers' CLIPTokenizer.from_pretrained).
  const fs::path hub = hf_hub_cache_dir();
  if (auto snapshot = find_hf_snapshot(hub, {"openai/clip-vit-large-patch14", "main"});
      snapshot && has_tokenizer_files(*snapshot))
    return *snapshot;
  throw ParameterError(
      "CLIP tokenizer not found (looked in the {tokenizer} folder, " +
      (model_dir.empty() ? std::string() : Error::literal((model_dir / subfolder).string()) + ", ") +
      "$I2I_TOKENIZER" + (cache.empty() ? std::string() : ", " + Error::literal(cache.string())) +
      "): run `i2i pull tokenizer`, or download vocab.json and merges.txt from the tokenizer/ folder of "
      "openai/clip-vit-large-patch14 on Hugging Face and give their folder as {tokenizer}");
}

}  // namespace i2i
