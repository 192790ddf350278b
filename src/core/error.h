// Error type used across i2i: every failure a user can cause is reported as an i2i::Error whose message
// is one line naming the problem (and the file or tensor involved).
#pragma once

#include <stdexcept>
#include <string>

namespace i2i {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
  // `text` (a file name, a user's value) for a ParameterError message: its braces are not parameter names.
  static std::string literal(const std::string& text) {
    std::string out;
    for (char c : text) {
      out += c;
      if (c == '{') out += '{';
    }
    return out;
  }
};

// A bad value of a named request parameter. The message is written with parameter names in braces
// ("{strength} must be between 0 and 1, got 2"; names are lower case and '_'; "{{" is a literal brace, see
// Error::literal): what() shows them bare
// ("strength must be ..."), and a front end shows them in its own words (the CLI: "--strength must be ...")
// through render().
class ParameterError : public Error {
 public:
  explicit ParameterError(const std::string& message_template)
      : Error(render_template(message_template, [](const std::string& name) { return name; })),
        template_(message_template) {}
  // The message with every {name} replaced by rename(name).
  template <typename Rename>
  std::string render(Rename rename) const {
    return render_template(template_, rename);
  }
  // The message as written, parameter names in braces (to build a longer message around it).
  const std::string& message_template() const { return template_; }

 private:
  template <typename Rename>
  static std::string render_template(const std::string& t, Rename rename) {
    std::string out;
    for (size_t i = 0; i < t.size(); ++i) {
      size_t close = t[i] == '{' ? t.find('}', i) : std::string::npos;
      // Only {lower_case_names} are parameters (a brace in a file name stays as it is).
      for (size_t k = i + 1; close != std::string::npos && k < close; ++k)
        if (!((t[k] >= 'a' && t[k] <= 'z') || t[k] == '_')) close = std::string::npos;
      if (t[i] == '{' && i + 1 < t.size() && t[i + 1] == '{') {  // "{{": a literal brace (Error::literal)
        out += '{';
        ++i;
        continue;
      }
      if (close == std::string::npos || close == i + 1) {
        out += t[i];
        continue;
      }
      out += rename(t.substr(i + 1, close - i - 1));
      i = close;
    }
    return out;
  }
  std::string template_;
};

// A run stopped on request (a progress callback said stop, or a cancel flag was set). Everything the run
// allocated is freed; the models it used stay usable.
class Cancelled : public Error {
 public:
  Cancelled() : Error("cancelled") {}
};

// An allocation that failed (a tensor's buffer): what() says what was being allocated; a front end adds
// what it was doing (the CLI: "out of memory while loading the model m.safetensors (...)").
class OutOfMemory : public Error {
 public:
  explicit OutOfMemory(const std::string& message) : Error(message) {}
};

// Throws i2i::Error(message) unless `condition` holds.
inline void check(bool condition, const std::string& message) {
  if (!condition) throw Error(message);
}

}  // namespace i2i
