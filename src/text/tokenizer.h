// CLIP byte-level BPE tokenizer (Hugging Face's slow CLIPTokenizer on its code path without ftfy), loaded
// from a folder holding vocab.json and merges.txt, plus the lookup of that folder.
//
// The algorithm (fixtures README, section "Tokenizer"):
//   1. split on the special-token strings (<|startoftext|>, <|endoftext|>, and every '!' when the tokenizer's
//   pad
//      token is '!', as for SD 2.x / SDXL tokenizer_2); those map straight to their ids;
//   2. normalise each other piece like transformers' BasicTokenizer: drop U+0000, U+FFFD and category C*
//   except
//      \t \n \r; whitespace to ' '; spaces around CJK ideographs; NFC; Python str.split(); str.lower() per
//      word;
//   3. regex <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+;
//   4. UTF-8 bytes through GPT-2's bytes_to_unicode, '</w>' on the last symbol, merges by rank.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace i2i {

struct ClipTokenizerOptions {
  // The SD 2.x / SDXL tokenizer_2 variant: '!' is registered as a special (pad) token, so every '!' in a text
  // becomes the id of "!" (0) before BPE, and pad_id() is that id.
  bool bang_is_special = false;
};

class ClipTokenizer {
 public:
  // The CLIP text encoders' context length; fit_to_length() targets it.
  static constexpr size_t kContextLength = 77;

  // Loads <dir>/vocab.json and <dir>/merges.txt. Throws i2i::Error naming the file when one is missing or
  // malformed (vocab without <|startoftext|> / <|endoftext|>, merges without the "#version" header, a merge
  // whose parts are not in the vocabulary, ...).
  static ClipTokenizer load(const std::filesystem::path& dir, const ClipTokenizerOptions& options = {});
  // The options a diffusers tokenizer folder asks for: bang_is_special when its special_tokens_map.json (or
  // tokenizer_config.json) names "!" as pad_token. Missing or unreadable files give the defaults.
  static ClipTokenizerOptions options_for_folder(const std::filesystem::path& dir);

  ClipTokenizer(ClipTokenizer&&) noexcept;
  ClipTokenizer& operator=(ClipTokenizer&&) noexcept;
  ~ClipTokenizer();

  // [bos] + tokenize(text) + [eos], no truncation, no padding. Throws i2i::Error if text is not valid UTF-8.
  std::vector<int> encode(std::string_view text) const;
  // The ids of a text fragment without bos/eos (for prompt weighting, which tokenizes fragments separately).
  std::vector<int> tokenize(std::string_view text) const;
  // encode() as token strings ("<|startoftext|>", "a</w>", "windo", ...), for tests and debugging.
  std::vector<std::string> encode_tokens(std::string_view text) const;

  // The vocabulary entry of an id (throws i2i::Error when out of range).
  const std::string& token(int id) const;
  // The id of a vocabulary entry, or -1.
  int id_of(std::string_view token) const;
  int bos_id() const;
  int eos_id() const;
  // Padding id: eos (<|endoftext|>) normally, the id of "!" with bang_is_special.
  int pad_id() const;
  size_t vocab_size() const;
  const ClipTokenizerOptions& options() const;

 private:
  struct Impl;
  explicit ClipTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// What the pipelines feed the text encoders, as diffusers' tokenizer(..., padding="max_length",
// max_length=77, truncation=True) does: `ids` is an encode() result ([bos] + tokens + [eos]); longer than
// `length` keeps bos, the first length - 2 tokens and the final eos; shorter is padded with pad_id to
// `length`. Throws i2i::Error when ids has fewer than 2 entries or length < 2.
std::vector<int> fit_to_length(const std::vector<int>& ids, size_t length, int pad_id);

// Largest vocab.json / merges.txt read or downloaded (CLIP's are 1.6 MB and 0.5 MB).
constexpr int64_t kMaxTokenizerFileBytes = int64_t{16} << 20;

// True when dir holds both vocab.json and merges.txt (regular files).
bool has_tokenizer_files(const std::filesystem::path& dir);

// The user cache folder for the CLIP tokenizer: $XDG_CACHE_HOME/i2i/tokenizer/clip, or
// $HOME/.cache/i2i/tokenizer/clip when XDG_CACHE_HOME is unset (or not absolute). Empty when neither is set.
std::filesystem::path default_tokenizer_cache_dir();

// Finds the tokenizer folder, in this order:
//   1. explicit_dir (the --tokenizer option; an empty path means not given) - must hold the files, else
//   Error;
//   2. <model_dir>/<subfolder> (a diffusers model folder; empty model_dir skips it);
//   3. $I2I_TOKENIZER - must hold the files when set, else Error;
//   4. default_tokenizer_cache_dir();
//   5. openai/clip-vit-large-patch14 (refs/main) in the Hugging Face cache (io/hf_cache.h).
// When none has vocab.json + merges.txt, throws i2i::Error telling how to get them (the tokenizer/ folder of
// openai/clip-vit-large-patch14 on Hugging Face, or `i2i pull tokenizer`).
std::filesystem::path find_tokenizer_dir(const std::filesystem::path& explicit_dir = {},
                                         const std::filesystem::path& model_dir = {},
                                         const std::string& subfolder = "tokenizer");

// Structural checks shared by load() and the downloader. check_vocab_file: parses as a JSON object of
// token -> int, has <|startoftext|> and <|endoftext|>; with `expect_clip_sizes` also exactly 49408 entries
// with
// <|startoftext|> = 49406 and <|endoftext|> = 49407. check_merges_file: first line starts with "#version",
// every later non-empty line has two parts; with `expect_clip_sizes` exactly 48894 merge lines. Throw
// i2i::Error naming the file.
void check_vocab_file(const std::filesystem::path& file, bool expect_clip_sizes);
void check_merges_file(const std::filesystem::path& file, bool expect_clip_sizes);

}  // namespace i2i
