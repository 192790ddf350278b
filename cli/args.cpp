#include "args.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "core/error.h"

namespace i2i::cli {

Args::Args(int argc, char** argv, int first, const std::vector<OptionSpec>& specs) {
  auto find = [&](const std::string& name) -> const OptionSpec* {
    for (const auto& s : specs)
      if (s.name == name) return &s;
    return nullptr;
  };
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
      std::string name = a.substr(2), value;
      bool inline_value = false;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        inline_value = true;
      }
      const OptionSpec* spec = find(name);
      if (!spec) throw Error("unknown option --" + name);
      if (spec->takes_value) {
        if (!inline_value) {
          if (i + 1 >= argc) throw Error("option --" + name + " needs a value");
          value = argv[++i];
        }
      } else if (inline_value) {
        throw Error("option --" + name + " takes no value");
      }
      values_[name].push_back(value);
      ordered_.emplace_back(name, value);
    } else if (a == "-o" && find("output")) {
      if (i + 1 >= argc) throw Error("option -o needs a value");
      values_["output"].push_back(argv[++i]);
      ordered_.emplace_back("output", values_["output"].back());
    } else {
      positional_.push_back(a);
    }
  }
}

std::optional<std::string> Args::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::string Args::get_or(const std::string& name, const std::string& fallback) const {
  auto v = get(name);
  return v ? *v : fallback;
}

const std::vector<std::string>& Args::all(const std::string& name) const {
  static const std::vector<std::string> none;
  auto it = values_.find(name);
  return it == values_.end() ? none : it->second;
}

std::optional<double> Args::number(const std::string& name) const {
  auto v = get(name);
  if (!v) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  double d = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0' || errno == ERANGE || !std::isfinite(d))
    throw Error("--" + name + " expects a number, got '" + *v + "'");
  return d;
}

std::optional<long long> Args::integer(const std::string& name) const {
  auto v = get(name);
  if (!v) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  long long n = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || errno == ERANGE)
    throw Error("--" + name + " expects an integer, got '" + *v + "'");
  return n;
}

std::string format_options(const std::vector<OptionSpec>& specs) {
  std::string out;
  for (const auto& s : specs) {
    std::string left = "  --" + s.name + (s.takes_value ? " " + s.value_name : "");
    if (left.size() < 30)
      left.resize(30, ' ');
    else
      left += "\n" + std::string(30, ' ');
    out += left + s.help + "\n";
  }
  return out;
}

}  // namespace i2i::cli
