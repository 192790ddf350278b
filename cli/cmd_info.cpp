// `i2i info MODEL`: what was detected in a checkpoint or diffusers folder.
#include <cstdio>
#include <map>

#include "args.h"
#include "commands.h"
#include "core/error.h"
#include "models/checkpoint.h"

namespace i2i::cli {
namespace {

struct ComponentStats {
  int64_t parameters = 0;
  std::map<std::string, int64_t> dtypes;  // dtype -> tensor count
};

std::string component_of(const std::string& name) {
  static const std::pair<const char*, const char*> prefixes[] = {
      {"model.diffusion_model.", "unet"},
      {"first_stage_model.", "vae"},
      {"cond_stage_model.", "text_encoder"},
      // The SDXL refiner's only encoder is OpenCLIP-bigG, diffusers' text_encoder_2.
      {"conditioner.embedders.0.model.", "text_encoder_2"},
      {"conditioner.embedders.0.", "text_encoder"},
      {"conditioner.embedders.1.", "text_encoder_2"},
      {"control_model.", "controlnet"},
  };
  for (const auto& [prefix, component] : prefixes)
    if (name.compare(0, std::strlen(prefix), prefix) == 0) return component;
  return "other";
}

void add_file(std::map<std::string, ComponentStats>& stats, const SafeTensors& st, const std::string& fixed) {
  for (const auto& name : st.names()) {
    const TensorInfo& info = st.info(name);
    auto& s = stats[fixed.empty() ? component_of(name) : fixed];
    s.parameters += shape_numel(info.shape);
    s.dtypes[std::string(dtype_name(info.dtype))]++;
  }
}

}  // namespace

int cmd_info(int argc, char** argv) {
  std::vector<OptionSpec> specs = {
      {"model-config", true, "configuration file (diffusers JSON or LDM YAML)", "FILE"},
      {"prediction", true, "override the prediction type: v or eps", "TYPE"},
      {"help", false, "this text"}};
  Args args(argc, argv, 2, specs);
  if (args.has("help") || args.positional().size() != 1) {
    std::printf(
        "usage: i2i info MODEL [options]\n\nPrints what i2i detects in a checkpoint or diffusers "
        "folder.\n\n%s",
        format_options(specs).c_str());
    return args.has("help") ? 0 : 2;
  }
  CheckpointOptions opts;
  if (auto p = args.get("model-config")) opts.model_config = *p;
  if (auto p = args.get("prediction")) opts.prediction = parse_prediction(*p);
  Checkpoint ck = open_checkpoint(args.positional()[0], opts);

  std::printf("path:        %s (%s)\n", ck.path.c_str(), ck.is_folder ? "diffusers folder" : "single file");
  std::printf("family:      %s%s%s\n", family_name(ck.family).c_str(), ck.refiner ? " refiner" : "",
              ck.inpainting ? " inpainting (9-channel UNet)" : "");
  std::printf("layout:      %s\n", layout_name(ck.layout).c_str());
  for (const auto& [from, to] : ck.renamed_prefixes)
    std::printf("  read as:   %s* -> %s*\n", from.c_str(), to.c_str());
  if (!ck.text_encoders.empty()) std::printf("text:        %s\n", ck.text_encoders.c_str());
  if (ck.family != ModelFamily::ControlNet && ck.family != ModelFamily::VAE)
    std::printf("prediction:  %s (%s)\n", prediction_name(ck.prediction).c_str(),
                ck.prediction_source.c_str());
  if (ck.vae_scaling_factor) std::printf("vae scale:   %g\n", *ck.vae_scaling_factor);
  std::printf("configs:     %s\n",
              ck.config_source.empty() ? "tensor shapes and standard values" : ck.config_source.c_str());

  std::map<std::string, ComponentStats> stats;
  if (ck.file) {
    add_file(stats, *ck.file, "");
  } else {
    for (const char* c : {"unet", "vae", "text_encoder", "text_encoder_2", "controlnet"}) {
      if (!std::filesystem::exists(ck.path / c)) continue;
      add_file(stats, SafeTensors::open(ck.component_file(c)), c);
    }
    if (ck.family == ModelFamily::ControlNet) {
      for (const char* name :
           {"diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors"})
        if (std::filesystem::exists(ck.path / name))
          add_file(stats, SafeTensors::open(ck.path / name), "controlnet");
    }
  }
  std::printf("components:\n");
  int64_t total = 0;
  for (const auto& [component, s] : stats) {
    std::string dt;
    for (const auto& [d, n] : s.dtypes) dt += (dt.empty() ? "" : ", ") + d + " x" + std::to_string(n);
    std::printf("  %-15s %14lld parameters  (%s)\n", component.c_str(), static_cast<long long>(s.parameters),
                dt.c_str());
    total += s.parameters;
  }
  std::printf("  %-15s %14lld parameters\n", "total", static_cast<long long>(total));
  if (ck.file && !ck.file->metadata().empty()) {
    std::printf("metadata:\n");
    for (const auto& [k, v] : ck.file->metadata()) {
      std::string shown = v.size() > 200 ? v.substr(0, 200) + "..." : v;
      std::printf("  %s: %s\n", k.c_str(), shown.c_str());
    }
  }
  return 0;
}

}  // namespace i2i::cli
