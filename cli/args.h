// A small command-line parser: `--name value`, `--name=value`, boolean `--flag`, repeatable options and
// positional arguments, checked against a table of known options so that a typo is an error.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace i2i::cli {

struct OptionSpec {
  std::string name;  // without the leading dashes
  bool takes_value = true;
  std::string help;
  std::string value_name = "VALUE";
};

class Args {
 public:
  // Parses argv[first..argc); throws i2i::Error for unknown options or a missing value.
  Args(int argc, char** argv, int first, const std::vector<OptionSpec>& specs);

  bool has(const std::string& name) const { return values_.count(name) != 0; }
  // The last value given for `name`, if any.
  std::optional<std::string> get(const std::string& name) const;
  std::string get_or(const std::string& name, const std::string& fallback) const;
  const std::vector<std::string>& all(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }
  // Every option given, as (name, value) in command-line order (for flags that belong to the unit flag
  // before them, such as --ip-adapter-image after --ip-adapter).
  const std::vector<std::pair<std::string, std::string>>& ordered() const { return ordered_; }

  // Typed accessors that name the option in their errors.
  std::optional<double> number(const std::string& name) const;
  std::optional<long long> integer(const std::string& name) const;

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
  std::vector<std::pair<std::string, std::string>> ordered_;
};

std::string format_options(const std::vector<OptionSpec>& specs);

}  // namespace i2i::cli
