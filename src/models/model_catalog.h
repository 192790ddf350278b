// `i2i list`: every model file in a models folder (models_folder.h, A1111's or ComfyUI's layout, see
// model_names.h) with its kind, family, size and A1111 short hash, the way A1111's checkpoint, LoRA and
// ControlNet lists show them.
//
// The kind and family come from the safetensors header and config files only (tensor names, shapes,
// metadata; weights are never read): a file's kind from its tensor names (an IP-Adapter kept in A1111's
// ControlNet/ folder is an IP-Adapter), else from its folder. Families: "SD 1.x", "SD 2.x", "SDXL base",
// "SDXL refiner", with " inpaint" for 9-channel UNets; "Turbo" / "LCM" when the file's name or its
// modelspec metadata says so, or a diffusers UNet has time_cond_proj_dim (LCM) - distillation leaves the
// shapes as they were, so nothing else can tell. LoRAs by kohya's ss_base_model_version or their key names
// (lora_te2_, SGM block names: SDXL); embeddings by clip_l / clip_g (SDXL) or width (768: SD 1.x, 1024:
// SD 2.x); IP-Adapters by their number of attention layers (16 in SD 1.x; more in SDXL); ControlNets by
// label_emb / add_embedding (SDXL) or linear proj_in (SD 2.x). Annotators (the .safetensors files of the
// annotator folders, ModelKind::Annotator) by what their tensor names say (models/annotator_file.h
// annotator_kind: "Depth Anything", "OpenPose body", ...). What the header cannot tell stays "".
//
// Hashes and families are cached together (io/file_hash.h HashCache, "info" of the entry): a second
// listing of unchanged files reads no file contents.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "io/file_hash.h"
#include "models/model_names.h"

namespace i2i {

struct ModelListing {
  std::filesystem::path path;  // the file or folder
  std::string name;            // its path below the kind's folder, without .safetensors ("sdxl/juggernaut")
  ModelKind kind = ModelKind::Checkpoint;
  std::string family;       // see above; "" unknown
  uint64_t size = 0;        // bytes (a folder: all its files)
  std::string sha256;       // of model_hash_file (a LoRA folder: its weights file); "" when unreadable
  std::string error;        // why it could not be read ("" when it could)
  bool from_cache = false;  // kind, family and hash came from the cache: no file contents were read
  std::string short_hash() const { return sha256.substr(0, 10); }
};

// What the header of `entry` says (see above); `folder_kind` is the kind of the folder it is in. Throws
// i2i::Error naming the file when it is no readable model.
struct ModelClass {
  ModelKind kind = ModelKind::Checkpoint;
  std::string family;
};
ModelClass classify_model(const std::filesystem::path& entry, ModelKind folder_kind);

// Every model entry of the models folder `root` (list_model_entries of each kind's folders, each entry
// once), in kind order then name order. Unreadable entries are listed with their error.
std::vector<ModelListing> list_models(const std::filesystem::path& root, HashCache& cache);

// "checkpoint" .. as model_kind_name, and back (nullopt-like: false for an unknown name).
bool model_kind_from_name(const std::string& name, ModelKind* kind);

}  // namespace i2i
