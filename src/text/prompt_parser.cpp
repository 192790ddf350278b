#include "text/prompt_parser.h"

#include <cctype>
#include <cstdlib>

namespace i2i {
namespace {

bool is_word_byte(unsigned char c) {
  return std::isalnum(c) || c == '_' || c >= 0x80;
}
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// re.split(r"\s*\bBREAK\b\s*", text): the pieces between BREAK keywords.
std::vector<std::string> split_break(const std::string& text) {
  std::vector<std::string> parts;
  size_t start = 0, search = 0;
  while (true) {
    size_t pos = text.find("BREAK", search);
    if (pos == std::string::npos) break;
    size_t end = pos + 5;
    bool left_ok = pos == 0 || !is_word_byte(static_cast<unsigned char>(text[pos - 1]));
    bool right_ok = end == text.size() || !is_word_byte(static_cast<unsigned char>(text[end]));
    if (!left_ok || !right_ok) {
      search = pos + 1;
      continue;
    }
    size_t cut = pos;
    while (cut > start && is_space(text[cut - 1])) --cut;
    while (end < text.size() && is_space(text[end])) ++end;
    parts.push_back(text.substr(start, cut - start));
    start = search = end;
  }
  parts.push_back(text.substr(start));
  return parts;
}

void append_text(std::vector<WeightedText>& res, const std::string& text) {
  auto parts = split_break(text);
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) res.push_back({"BREAK", -1.0f, true});
    res.push_back({parts[i], 1.0f, false});
  }
}

// Matches `:\s*([+-]?[.\d]+)\s*\)` at `pos`; on success sets `weight` and returns the match length.
size_t match_weight(const std::string& s, size_t pos, double& weight, bool& valid) {
  size_t i = pos + 1;
  while (i < s.size() && is_space(s[i])) ++i;
  size_t num_start = i;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  size_t digits_start = i;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == digits_start) return 0;
  std::string number = s.substr(num_start, i - num_start);
  while (i < s.size() && is_space(s[i])) ++i;
  if (i >= s.size() || s[i] != ')') return 0;
  char* end = nullptr;
  weight = std::strtod(number.c_str(), &end);
  valid = end && *end == '\0';
  return i + 1 - pos;
}

}  // namespace

std::vector<WeightedText> parse_prompt_weights(const std::string& prompt, bool emphasis) {
  std::vector<WeightedText> res;
  if (!emphasis) {
    append_text(res, prompt);
  } else {
    std::vector<size_t> round, square;
    auto multiply_from = [&](size_t start, double m) {
      for (size_t p = start; p < res.size(); ++p) res[p].weight = static_cast<float>(res[p].weight * m);
    };
    size_t i = 0;
    const std::string& s = prompt;
    while (i < s.size()) {
      char c = s[i];
      if (c == '\\') {
        if (i + 1 < s.size() &&
            (s[i + 1] == '(' || s[i + 1] == ')' || s[i + 1] == '[' || s[i + 1] == ']' || s[i + 1] == '\\')) {
          res.push_back({std::string(1, s[i + 1]), 1.0f, false});
          i += 2;
        } else {
          res.push_back({"", 1.0f, false});
          i += 1;
        }
      } else if (c == '(') {
        round.push_back(res.size());
        ++i;
      } else if (c == '[') {
        square.push_back(res.size());
        ++i;
      } else if (c == ':') {
        double w = 0;
        bool valid = false;
        size_t n = match_weight(s, i, w, valid);
        if (n > 0 && !round.empty() && valid) {
          multiply_from(round.back(), w);
          round.pop_back();
        } else if (n > 0) {
          append_text(res, s.substr(i, n));
        } else {
          append_text(res, ":");
          n = 1;
        }
        i += n;
      } else if (c == ')' && !round.empty()) {
        multiply_from(round.back(), 1.1);
        round.pop_back();
        ++i;
      } else if (c == ']' && !square.empty()) {
        multiply_from(square.back(), 1 / 1.1);
        square.pop_back();
        ++i;
      } else if (c == ')' || c == ']') {
        append_text(res, std::string(1, c));
        ++i;
      } else {
        size_t j = i;
        while (j < s.size() && s[j] != '\\' && s[j] != '(' && s[j] != ')' && s[j] != '[' && s[j] != ']' &&
               s[j] != ':')
          ++j;
        append_text(res, s.substr(i, j - i));
        i = j;
      }
    }
    for (size_t pos : round) multiply_from(pos, 1.1);
    for (size_t pos : square) multiply_from(pos, 1 / 1.1);
  }
  if (res.empty()) res.push_back({"", 1.0f, false});
  for (size_t i = 0; i + 1 < res.size();) {
    if (res[i].weight == res[i + 1].weight && res[i].is_break == res[i + 1].is_break && !res[i].is_break) {
      res[i].text += res[i + 1].text;
      res.erase(res.begin() + static_cast<long>(i) + 1);
    } else {
      ++i;
    }
  }
  return res;
}

}  // namespace i2i
