#include "preprocess_aux_options.h"

#include <string>
#include <system_error>

#include "core/error.h"
#include "pipelines/sd_model.h"
#include "preprocess/control_preprocessors.h"

namespace i2i::cli {

int resolution_option(const Args& a, const char* name) {
  const auto v = a.integer(name);
  const long long r = v ? *v : 512;
  if (r < kMinProcessorResolution || r > kMaxProcessorResolution)
    throw Error(std::string("--") + name + " must be between " + std::to_string(kMinProcessorResolution) +
                " and " + std::to_string(kMaxProcessorResolution) + ", got " + std::to_string(r));
  return static_cast<int>(r);
}

Precision annotator_precision(const Args& a, const std::filesystem::path& model) {
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(model, ec);
  return resolve_precision(parse_precision(a.get_or("precision", "auto")),
                           ec ? 0 : static_cast<int64_t>(bytes / 2));
}

}  // namespace i2i::cli
