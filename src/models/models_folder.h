// Where model files live when the user names them instead of giving paths: an AUTOMATIC1111-style models
// folder (`Stable-diffusion/`, `VAE/`, `Lora/`, `embeddings/`, `ControlNet/`, ...). The folder is
// --models-dir, else $I2I_MODELS_DIR, else $XDG_DATA_HOME/i2i/models, else ~/.local/share/i2i/models.
// A1111 keeps `embeddings/` beside `models/` rather than inside it: both are accepted. Model files named
// on the command line are looked up there by model_names.h.
#pragma once

#include <filesystem>
#include <string>

namespace i2i {

// The models folder for `given` (the --models-dir value; "" = the default above). Empty when no default
// can be formed (neither I2I_MODELS_DIR, XDG_DATA_HOME nor HOME set). The folder need not exist.
std::filesystem::path models_folder(const std::string& given = "");

// The LoRA folder: `given` (--lora-dir) when not empty, else `Lora/` under models_folder(models_dir)
// (ComfyUI's `loras/` when only that one exists).
std::filesystem::path lora_folder(const std::string& given, const std::string& models_dir);

// The textual-inversion folder: `given` (--embeddings-dir) when not empty, else `embeddings/` under
// models_folder(models_dir), or beside it (A1111's `models/../embeddings`) when only that one exists.
std::filesystem::path embeddings_folder(const std::string& given, const std::string& models_dir);

}  // namespace i2i
