// Random-weight Stable Diffusion checkpoints (SD 1.x, SD 2.x, SDXL base) in the original single-file layout,
// of any size: the real shapes (for benchmarks and load tests, since real weights cannot be shipped) or the
// tiny fixture shapes (which lets a test check the layout against the fixtures' real files).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "models/clip_vision_config.h"
#include "models/openpose_body_model.h"
#include "models/weights.h"

namespace i2i {

// Which text encoders a checkpoint holds, under which prefix (original layouts).
enum class TextEncoders {
  ClipL,              // SD 1.x: cond_stage_model.transformer.text_model.* (Hugging Face CLIP names)
  OpenClip,           // SD 2.x: cond_stage_model.model.* (OpenCLIP names, fused in_proj)
  ClipLAndOpenClipG,  // SDXL base: conditioner.embedders.0.transformer.* + conditioner.embedders.1.model.*
};

struct SdShape {
  // UNet
  int in_channels = 4;
  int model_channels = 320;
  std::vector<int> channel_mult = {1, 2, 4, 4};
  std::vector<bool> attention = {true, true, true, false};  // per level
  int res_blocks = 2;
  int context_dim = 768;
  bool linear_projection = false;  // SD 2.x: proj_in/proj_out are Linear layers
  // BasicTransformerBlocks per transformer, per level (levels without attention ignore theirs), and in the
  // mid block (SDXL base: 0, 2, 10 and 10).
  std::vector<int> transformer_depth = {1, 1, 1, 1};
  int mid_transformer_depth = 1;
  // SDXL's vector conditioning label_emb (pooled text + time-id embeddings): its input width, 0 for none.
  int adm_in_channels = 0;
  // VAE
  int vae_channels = 128;
  std::vector<int> vae_mult = {1, 2, 4, 4};
  int vae_res_blocks = 2;
  int latent_channels = 4;
  TextEncoders text = TextEncoders::ClipL;
  // CLIP text encoder (Hugging Face layout; SD 1.x, SDXL's first)
  int vocab = 49408;
  int text_hidden = 768;
  int text_layers = 12;
  int text_intermediate = 3072;
  int text_positions = 77;
  // OpenCLIP text encoder (SD 2.x: ViT-H; SDXL's second: ViT-bigG), with its text_projection
  int openclip_width = 1024;
  int openclip_layers = 24;
  int openclip_mlp = 4096;

  static SdShape sd15();       // 1.07B parameters
  static SdShape sd21();       // SD 2.1 (and SD-Turbo): 1.30B parameters, OpenCLIP ViT-H
  static SdShape sdxl();       // SDXL base 1.0: 3.47B parameters (UNet 2.57B), CLIP-L + OpenCLIP bigG
  static SdShape tiny_sd15();  // the fixtures' tiny-sd15
  static SdShape tiny_sd2();   // the fixtures' tiny-sd2v
  static SdShape tiny_sdxl();  // the fixtures' tiny-sdxl
};

// Number of values of all the checkpoint's tensors.
int64_t checkpoint_parameter_count(const SdShape& shape);

enum class InitKind { Weight, Bias, Norm, Embedding };

struct TensorSpec {
  std::string name;
  Shape shape;
  InitKind init;
};

// Every tensor of the checkpoint, with its original-layout name and shape.
std::vector<TensorSpec> sd_checkpoint_layout(const SdShape& shape);

// Fills one tensor deterministically from (seed, name): weights ~ N(0, 1/sqrt(fan_in)), biases ~
// N(0, 0.05), norm weights ~ 1 + N(0, 0.1), embeddings ~ N(0, 0.5) (the fixtures' recipe).
Tensor random_tensor(const TensorSpec& spec, DType dtype, uint64_t seed);

// Writes a random checkpoint (streamed: one tensor in memory at a time).
void write_random_checkpoint(const std::filesystem::path& path, const SdShape& shape, DType dtype,
                             uint64_t seed);

// The same weights in memory, under the original-layout names; with `prefixes`, only the tensors whose
// names start with one of them (e.g. "model.diffusion_model." for the UNet alone).
Weights random_checkpoint_weights(const SdShape& shape, DType dtype, uint64_t seed,
                                  const std::vector<std::string>& prefixes = {});

// Every tensor of a CLIP vision tower (CLIPVisionModelWithProjection, transformers names, see
// models/clip_vision.h) of the given shape: e.g. the IP-Adapter image encoder, ViT-H/14.
std::vector<TensorSpec> clip_vision_layout(const ClipVisionConfig& config);
// Its weights in memory, filled as random_tensor does.
Weights random_clip_vision_weights(const ClipVisionConfig& config, DType dtype, uint64_t seed);

// Every tensor of an OpenPose body model (models/openpose_body_model.h) of the given sizes, filled as
// random_tensor does (so activations shrink layer by layer, as in an untrained network).
Weights random_openpose_body_weights(const OpenposeBodyConfig& config, DType dtype, uint64_t seed);

}  // namespace i2i
