#include <map>

#include "server/a1111_request.h"

namespace i2i::server {
using nlohmann::json;

HttpError a1111_parameter_error(const ParameterError& e) {
  // The library's parameter names as A1111's fields.
  static const std::map<std::string, std::string> kFields = {
      {"strength", "denoising_strength"},
      {"schedule", "scheduler"},
      {"sampler", "sampler_name"},
      {"batch_count", "n_iter"},
      {"padding", "inpaint_full_res_padding"},
      {"control_image", "alwayson_scripts"},
      {"clip_skip", "override_settings.CLIP_stop_at_last_layers"}};
  std::string field;
  const std::string msg = e.render([&field](const std::string& name) {
    auto it = kFields.find(name);
    const std::string a1111 = it == kFields.end() ? name : it->second;
    if (field.empty()) field = a1111;
    return a1111;
  });
  json loc = json::array({"body"});
  for (size_t at = 0; !field.empty();) {  // ("override_settings.CLIP_stop_at_last_layers": two parts)
    const size_t dot = field.find('.', at);
    loc.push_back(field.substr(at, dot == std::string::npos ? std::string::npos : dot - at));
    if (dot == std::string::npos) break;
    at = dot + 1;
  }
  return validation_error(loc, msg);
}

void check_a1111_request(A1111Request& r) {
  // IP-Adapter and reference units that take the init picture get it in the worker: checked here with a
  // stand-in (validate_request looks only at whether they have one).
  struct StandIns {
    A1111Request& r;
    explicit StandIns(A1111Request& request) : r(request) {
      for (size_t i = 0; i < r.ip_adapter_from_init.size(); ++i)
        if (r.ip_adapter_from_init[i]) r.request.images.ip_adapters[i] = Image(1, 1, 3);
      if (r.reference_from_init) r.request.images.reference = Image(1, 1, 3);
    }
    ~StandIns() {
      for (size_t i = 0; i < r.ip_adapter_from_init.size(); ++i)
        if (r.ip_adapter_from_init[i]) r.request.images.ip_adapters[i].reset();
      if (r.reference_from_init) r.request.images.reference.reset();
    }
  } stand_ins(r);
  try {
    validate_request(r.request);
  } catch (const ParameterError& e) {
    throw a1111_parameter_error(e);
  } catch (const Error& e) {  // (a LoRA or embedding the prompt names that is not there)
    throw validation_error(json::array({"body", "prompt"}), e.what());
  }
}

A1111Request parse_a1111_request(const json& body, GenerationMode mode, const ModelCatalog& catalog,
                                 const RequestLimits& limits) {
  A1111Request r = map_a1111_request(body, mode, catalog, limits);
  check_a1111_request(r);
  return r;
}

}  // namespace i2i::server
