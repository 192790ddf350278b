// Sampler names (AUTOMATIC1111 and aliases) -> diffusers scheduler classes with their settings.
#include <algorithm>
#include <cctype>

#include "core/error.h"
#include "sampling/scheduler.h"

namespace i2i {

namespace {

struct Entry {
  const char* name;                  // A1111 name
  std::vector<const char*> aliases;  // normalised (lower case, '_' for spaces, "pp" for "++")
  std::unique_ptr<Scheduler> (*make)(const SchedulerConfig&);
  nlohmann::json settings;  // applied on top of the model's config
  bool has_sigmas;          // supports the Karras schedule type
};

const std::vector<Entry>& entries() {
  static const std::vector<Entry> e = [] {
    std::vector<Entry> v;
    v.push_back({"DDIM", {"ddim", "ddimscheduler"}, make_ddim, nlohmann::json::object(), false});
    v.push_back({"PLMS", {"plms", "pndm", "pndmscheduler"}, make_pndm, nlohmann::json::object(), false});
    v.push_back({"LMS", {"lms", "lmsdiscretescheduler"}, make_lms, nlohmann::json::object(), true});
    v.push_back({"Euler", {"euler", "eulerdiscretescheduler"}, make_euler, nlohmann::json::object(), true});
    v.push_back({"Euler a",
                 {"euler_a", "euler_ancestral", "eulerancestraldiscretescheduler"},
                 make_euler_ancestral,
                 nlohmann::json::object(),
                 true});
    v.push_back({"Heun", {"heun", "heundiscretescheduler"}, make_heun, nlohmann::json::object(), true});
    v.push_back({"DPM2", {"dpm2", "kdpm2discretescheduler"}, make_kdpm2, nlohmann::json::object(), true});
    v.push_back({"DPM2 a",
                 {"dpm2_a", "dpm2_ancestral", "kdpm2ancestraldiscretescheduler"},
                 make_kdpm2_ancestral,
                 nlohmann::json::object(),
                 true});
    v.push_back({"DPM++ 2M",
                 {"dpmpp_2m", "dpmsolvermultistepscheduler"},
                 make_dpm_multistep,
                 {{"algorithm_type", "dpmsolver++"}, {"solver_order", 2}},
                 true});
    v.push_back({"DPM++ 2M Karras",
                 {"dpmpp_2m_karras"},
                 make_dpm_multistep,
                 {{"algorithm_type", "dpmsolver++"}, {"solver_order", 2}, {"use_karras_sigmas", true}},
                 true});
    v.push_back({"DPM++ 2M SDE",
                 {"dpmpp_2m_sde"},
                 make_dpm_multistep,
                 {{"algorithm_type", "sde-dpmsolver++"}, {"solver_order", 2}},
                 true});
    v.push_back({"UniPC", {"unipc", "unipcmultistepscheduler"}, make_unipc, nlohmann::json::object(), true});
    v.push_back({"LCM", {"lcm", "lcmscheduler"}, make_lcm, nlohmann::json::object(), false});
    return v;
  }();
  return e;
}

std::string normalise(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '+' && i + 1 < s.size() && s[i + 1] == '+') {
      out += "pp";
      ++i;
    } else if (c == ' ' || c == '-') {
      out += '_';
    } else {
      out += static_cast<char>(std::tolower(c));
    }
  }
  return out;
}

std::string valid_names() {
  std::string s;
  for (const auto& e : entries()) {
    s += (s.empty() ? "" : ", ") + std::string("\"") + e.name + "\"";
  }
  return s;
}

}  // namespace

std::vector<std::string> sampler_names() {
  std::vector<std::string> v;
  for (const auto& e : entries()) v.push_back(e.name);
  return v;
}

namespace {

const Entry& find_entry(const std::string& name) {
  const std::string key = normalise(name);
  const Entry* found = nullptr;
  for (const auto& e : entries()) {
    if (normalise(e.name) == key) found = &e;
    for (const char* a : e.aliases)
      if (key == a) found = &e;
    if (found) break;
  }
  if (!found)
    throw ParameterError(
        "unknown {sampler} '" + Error::literal(name) + "'; valid names: " + valid_names() +
        " (or lower-case aliases such as euler_a, dpmpp_2m, dpmpp_2m_karras, dpmpp_2m_sde, dpm2_a)");
  return *found;
}

}  // namespace

std::string canonical_sampler_name(const std::string& name) {
  return find_entry(name).name;
}

std::unique_ptr<Scheduler> make_scheduler(const std::string& name, const SchedulerConfig& base,
                                          const std::string& schedule_type) {
  const Entry* found = &find_entry(name);
  SchedulerConfig c = base;
  c.apply(found->settings, std::string("sampler ") + found->name);
  const std::string type = normalise(schedule_type);
  if (type == "karras") {
    if (!found->has_sigmas)
      throw ParameterError(std::string("{sampler} '") + found->name +
                           "' has no sigma schedule: {schedule} type 'karras' does not apply");
    c.use_karras_sigmas = true;
  } else if (type == "normal" || type == "default") {
    c.use_karras_sigmas = false;
  } else if (type == "trailing") {
    // diffusers' timestep_spacing="trailing" (SD-Turbo / SDXL-Turbo): the sampler's own sigma type stays
    // (Karras for "DPM++ 2M Karras"). LCM picks its steps from its own origin schedule and has no spacing.
    if (std::string(found->name) == "LCM")
      throw ParameterError(
          "{sampler} 'LCM' picks its timesteps from its own 50-step origin schedule (already starting at "
          "999): {schedule} type 'trailing' does not apply");
    c.timestep_spacing = "trailing";
  } else if (!(type.empty() || type == "automatic")) {
    throw ParameterError("unknown {schedule} type '" + Error::literal(schedule_type) +
                         "' (expected automatic, karras, normal or trailing)");
  }
  return found->make(c);
}

}  // namespace i2i
