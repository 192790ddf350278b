// Random-weight Stable Diffusion 1.x/2.x checkpoints in the original single-file layout, of any size:
// the real SD 1.5 shapes (for benchmarks and load tests, since real weights cannot be shipped) or the tiny
// fixture shapes (which lets a test check the layout against the fixtures' real files).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "models/clip_vision_config.h"
#include "models/weights.h"

namespace i2i {

struct SdShape {
  // UNet
  int in_channels = 4;
  int model_channels = 320;
  std::vector<int> channel_mult = {1, 2, 4, 4};
  std::vector<bool> attention = {true, true, true, false};  // per level
  int res_blocks = 2;
  int context_dim = 768;
  bool linear_projection = false;  // SD 2.x: proj_in/proj_out are Linear layers
  // VAE
  int vae_channels = 128;
  std::vector<int> vae_mult = {1, 2, 4, 4};
  int vae_res_blocks = 2;
  int latent_channels = 4;
  // CLIP text encoder (Hugging Face layout, SD 1.x)
  int vocab = 49408;
  int text_hidden = 768;
  int text_layers = 12;
  int text_intermediate = 3072;
  int text_positions = 77;

  static SdShape sd15();
  static SdShape tiny_sd15();  // the fixtures' tiny-sd15
};

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

// The same weights in memory, under the original-layout names.
Weights random_checkpoint_weights(const SdShape& shape, DType dtype, uint64_t seed);

// Every tensor of a CLIP vision tower (CLIPVisionModelWithProjection, transformers names, see
// models/clip_vision.h) of the given shape: e.g. the IP-Adapter image encoder, ViT-H/14.
std::vector<TensorSpec> clip_vision_layout(const ClipVisionConfig& config);
// Its weights in memory, filled as random_tensor does.
Weights random_clip_vision_weights(const ClipVisionConfig& config, DType dtype, uint64_t seed);

}  // namespace i2i
