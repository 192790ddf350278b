#include "models/unet_load.h"

#include "core/error.h"
#include "io/safetensors.h"
#include "models/ldm_keys.h"
#include "models/model_config.h"

namespace i2i {

namespace fs = std::filesystem;

Weights diffusers_component_weights(const fs::path& dir) {
  for (const char* name :
       {"diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors"}) {
    fs::path p = dir / name;
    if (fs::exists(p)) return weights_from_safetensors(SafeTensors::open(p));
  }
  throw Error(dir.string() + ": no diffusion_pytorch_model.safetensors");
}

UNet2DCondition load_unet_diffusers(const fs::path& dir, Precision precision) {
  fs::path unet_dir = fs::exists(dir / "unet" / "config.json") ? dir / "unet" : dir;
  UNetConfig config = unet_config_from_file(unet_dir / "config.json");
  return UNet2DCondition(diffusers_component_weights(unet_dir), config, precision);
}

UNet2DCondition load_unet_single_file(const fs::path& file, const nlohmann::json* config, Precision precision,
                                      const std::string& config_origin) {
  SafeTensors st = SafeTensors::open(file);
  Weights w = unet_weights_from_ldm(st);
  return UNet2DCondition(w, infer_unet_config(w, config, config_origin), precision);
}

}  // namespace i2i
