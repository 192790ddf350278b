// AUTOMATIC1111 generation parameters ("infotext"), the text stored in a PNG's `parameters` chunk:
//
//   a cat, masterpiece
//   Negative prompt: blurry
//   Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Denoising strength: 0.5
//
// The prompt may span several lines; "Negative prompt:" starts the negative prompt (which may also span
// lines); the last line holds "Key: value" pairs separated by ", ". Values containing ',' ':' or a newline
// are written as JSON strings. Parsing follows modules/infotext_utils.py parse_generation_parameters (its
// regex \s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$) with Python's Unicode \w and \s, and the rule
// that a last line with fewer than 3 pairs belongs to the prompt).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace i2i {

struct GenerationParameters {
  std::string prompt;
  std::string negative_prompt;
  // In order of appearance. Values are the unquoted strings ("512x512" for Size: A1111's split into Size-1 /
  // Size-2 is left to the caller).
  std::vector<std::pair<std::string, std::string>> params;

  // The value of `key`, if present.
  std::optional<std::string> get(const std::string& key) const;
  // Replaces the value of `key` in place, or appends the pair.
  void set(const std::string& key, const std::string& value);
};

// A1111's create_infotext layout: prompt, "\nNegative prompt: ..." when the negative prompt is not empty,
// then the parameter line, the whole stripped of surrounding whitespace. Values are quoted as A1111's quote()
// does (when they contain ',', ':' or a newline) and additionally when they contain '"', are empty, or start
// or end with whitespace, so that every value reads back unchanged (A1111 reads those quoted values the same
// way). Throws i2i::Error for a key that A1111's parser cannot read back (it must match \w[\w \-/]+) or for
// text that is not valid UTF-8. Note A1111's reading rules: prompt lines are stripped of surrounding
// whitespace, and a parameter line with fewer than 3 pairs is read as part of the prompt.
std::string format_parameters(const GenerationParameters& params);

// Largest parameters text parse_parameters reads (A1111's are a few KB even with long prompts).
constexpr size_t kMaxParametersBytes = size_t{1} << 20;

// Parses A1111 infotext (UTF-8) in time linear in its length and number of keys. Never fails on odd text
// (unparsable parts end up in the prompt, as in A1111); throws i2i::Error only for invalid UTF-8 or a text
// longer than kMaxParametersBytes. A value that is empty after unquoting is kept ("" stays
// ""), a bare empty value ("Key: ,") is dropped as A1111 does; a repeated key keeps its first position and
// its last value.
GenerationParameters parse_parameters(const std::string& text);

// A1111's value quoting as used by format_parameters: the value itself, or a JSON string (non-ASCII kept as
// is).
std::string quote_parameter_value(const std::string& value);

// The offset of the first byte of `text` that is not valid UTF-8 (text.size() for a sequence cut short by
// the end); std::string::npos when all of it is.
size_t invalid_utf8_at(const std::string& text);

}  // namespace i2i
