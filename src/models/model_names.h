// Model files named instead of given by path: every option that takes a model file (--model, --vae,
// --control-model, --ip-adapter, --image-encoder, --lora, --refiner, and the same fields of a request in the
// C API or the server) also takes
//   * a bare name, looked up in the models folder (models_folder.h) in AUTOMATIC1111's layout
//     (`Stable-diffusion/`, `VAE/`, `Lora/`, `embeddings/` inside or beside the folder, `ControlNet/`,
//     `ipadapter/`, `clip_vision/`) and ComfyUI's (`checkpoints/`, `vae/`, `loras/`, `controlnet/`,
//     `ipadapter/`, `clip_vision/`, `embeddings/`), their subfolders included; "NAME" matches a file
//     `NAME.safetensors` or `NAME` or a model folder `NAME`, also by its path below the kind's folder
//     ("sdxl/juggernaut"), with or without the extension, as A1111's checkpoint list names them;
//   * `org/name[@revision]`, a diffusers / transformers repository already in the Hugging Face cache
//     (io/hf_cache.h; nothing is downloaded: `i2i pull` does that) for the kinds that can be folders.
// A path that exists always wins. The library resolves names (resolve_model_file), so every front end
// accepts them the same way.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace i2i {

// Annotator: the network of a ControlNet preprocessor (depth, pose, line art, ...; preprocess/
// annotator_lookup.h finds a preprocessor's default file among them).
enum class ModelKind { Checkpoint, Vae, Lora, Embedding, ControlNet, IpAdapter, ImageEncoder, Annotator };

// "checkpoint", "VAE", "LoRA", "embedding", "ControlNet", "IP-Adapter", "image encoder", "annotator".
std::string model_kind_name(ModelKind kind);

// The subfolders of a models folder that hold `kind`, A1111's names first then ComfyUI's (e.g. a
// checkpoint: Stable-diffusion, checkpoints, diffusers).
const std::vector<std::string>& model_kind_subfolders(ModelKind kind);
// Those of them that exist under `root` (for embeddings also `embeddings/` beside it, as A1111 keeps it;
// for annotators also the folders beside `root` where A1111's ControlNet extension and ComfyUI's
// controlnet_aux download theirs: `../extensions/sd-webui-controlnet/annotator/downloads/` and
// `../custom_nodes/<node>/ckpts/`).
std::vector<std::filesystem::path> model_kind_folders(ModelKind kind, const std::filesystem::path& root);

// Whether `entry` (a file or folder inside a kind's folder) is a model of that kind's form: a .safetensors
// file (a checkpoint, VAE, ControlNet, LoRA, embedding or adapter); a diffusers / transformers folder
// (model_index.json, config.json, or a LoRA folder's pytorch_lora_weights.safetensors). Looks at names only.
bool is_model_entry(const std::filesystem::path& entry);

// Every model entry in `folder` and its subfolders (not inside model folders; at most 6 levels deep,
// directory symlinks followed, each folder once), sorted by path.
std::vector<std::filesystem::path> list_model_entries(const std::filesystem::path& folder);

// What `given` (an option's value) names, as a path: `given` itself when it is empty or exists; the
// snapshot folder of a repository in the Hugging Face cache for `org/name[@rev]`; the one model entry of
// that name in the kind's folders of models_folder(models_dir). Throws ParameterError naming {param}: when
// several entries match (listing them), or nothing does (saying where it looked).
std::string resolve_model_file(ModelKind kind, const std::string& given, const std::string& models_dir,
                               const std::string& param);

}  // namespace i2i
