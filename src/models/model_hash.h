// How a picture's parameters text names the model files it was made with, without their paths: by name and
// short hash, as AUTOMATIC1111 writes them (processing.py create_infotext: `Model hash: 6ce0161689, Model:
// v1-5-pruned-emaonly`, `VAE hash: ..., VAE: vae-ft-mse-840000-ema-pruned.safetensors`) and as the
// sd-webui-controlnet extension writes a unit's model (`Model: control_v11p_sd15_canny [d14c016b]`).
//
// A diffusers folder has no single file, and A1111 no rule for one: i2i hashes the weights file that makes
// the model what it is - for a pipeline folder the UNet's (`unet/diffusion_pytorch_model.safetensors`, or
// what Checkpoint::component_file would pick), for a ControlNet or VAE folder its own weights file
// (`diffusion_pytorch_model.safetensors`; a ControlNet folder's `controlnet/` one where it has that). The
// text encoder, VAE and configs of a pipeline folder do not enter its hash.
#pragma once

#include <filesystem>
#include <string>

namespace i2i {

// The name A1111 shows for a checkpoint or ControlNet: the file name without its extension
// ("v1-5-pruned-emaonly"), or a folder's name ("stable-diffusion-v1-5", trailing '/' ignored).
std::string model_stem(const std::filesystem::path& model);
// The name A1111 shows for a VAE: the file name with its extension, or a folder's name.
std::string vae_file_name(const std::filesystem::path& vae);

// The file whose bytes a model's hash is taken of (see above): the model itself when it is a file. Throws
// i2i::Error naming the folder when it holds no weights file.
std::filesystem::path model_hash_file(const std::filesystem::path& model);

// A1111's short hash (`Model hash`, `VAE hash`): the first 10 hex digits of the SHA-256 of
// model_hash_file(model), cached (io/file_hash.h HashCache::user()). Throws i2i::Error when it cannot be
// read.
std::string model_short_hash(const std::filesystem::path& model);
// The sd-webui-controlnet extension's hash of a ControlNet: A1111's old 8-digit model_hash of
// model_hash_file(model) (io/file_hash.h legacy_model_hash).
std::string controlnet_short_hash(const std::filesystem::path& model);

// Whether `recorded`, a hash as a picture records it, is that of `model`: 8 hex digits are compared with
// A1111's old hash (what older A1111 pictures and ControlNet units hold), 10 to 64 with the start of the
// SHA-256 (case-insensitive). Anything else never matches. Throws i2i::Error when the file cannot be read.
bool model_hash_matches(const std::filesystem::path& model, const std::string& recorded);

}  // namespace i2i
