#include "models/vae_load.h"

#include "io/safetensors.h"
#include "models/ldm_keys.h"
#include "models/unet_load.h"

namespace i2i {

namespace fs = std::filesystem;

AutoencoderKL load_vae_diffusers(const fs::path& dir, Precision precision) {
  fs::path vae_dir = fs::exists(dir / "vae" / "config.json") ? dir / "vae" : dir;
  VaeConfig config = vae_config_from_file(vae_dir / "config.json");
  return AutoencoderKL(diffusers_component_weights(vae_dir), config, precision);
}

AutoencoderKL load_vae_single_file(const fs::path& file, const nlohmann::json* config, Precision precision,
                                   const std::string& config_origin) {
  SafeTensors st = SafeTensors::open(file);
  Weights w = vae_weights_from_ldm(st);
  return AutoencoderKL(w, infer_vae_config(w, config, config_origin), precision);
}

}  // namespace i2i
