// generate(): the one entry point every front end (CLI, C API, server, tests) uses to make pictures. It
// takes a loaded ModelSet and one GenerationRequest covering everything i2i can do - txt2img, img2img,
// inpainting with AUTOMATIC1111's mask options, ControlNet units with preprocessing, IP-Adapter image
// prompts (ip_adapter_request.h), reference-only conditioning (reference_control.h), batches, seeds and RNG
// kind, resize modes and schedules - and returns the finished 8-bit pictures with their PNG `parameters`
// text. Underneath, run_img2img (img2img.h) does the diffusers-exact denoising on tensors; this layer is
// AUTOMATIC1111's around it (image sizes and resize modes, the inpainting work area and composite, seed
// per image, batch count).
//
//   ModelSet models = ModelSet::load("v1-5-pruned-emaonly.safetensors");   // once; serves many requests
//   GenerationRequest req;
//   req.params.prompt = "a watercolour lighthouse"; req.params.strength = 0.6; req.params.seed = 42;
//   req.images.init = read_image("photo.jpg");
//   GenerationResult r = generate(models, req);          // throws i2i::Error, i2i::Cancelled
//   write_png("out.png", r.images[0].image, {{"parameters", r.images[0].parameters}});
//
// Threads: one ModelSet may be shared by any number of threads. generate() calls on the same ModelSet run
// one at a time (a second call waits for the first: each uses every core through OpenMP already);
// controlnet() may be called at any time. Distinct ModelSets run concurrently. A request and its callbacks
// belong to the calling thread; `cancel` may be set from any thread.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/image.h"
#include "models/controlnet.h"
#include "pipelines/embedding_cache.h"
#include "pipelines/generation_params.h"
#include "pipelines/ip_adapter_cache.h"
#include "pipelines/lora_request.h"
#include "pipelines/sd_model.h"

namespace i2i {

struct GenerationRequest;
struct GenerationResult;

// A model loaded once for many requests, with the ControlNets requests name, loaded on first use and kept,
// and the LoRAs the last request asked for merged into its layers (lora_apply.h: the next request with other
// LoRAs changes only the layers either set touches, from the original weights).
class ModelSet {
 public:
  explicit ModelSet(SdModel model);
  // load_sd_model(path, options) (sd_model.h), the model and options.vae given by path or by name
  // (models/model_names.h resolve_model_file, in options.models_dir).
  static std::unique_ptr<ModelSet> load(const std::filesystem::path& path,
                                        const SdModelOptions& options = {});

  const SdModel& model() const { return model_; }
  // Where the model and its VAE override (empty: none) were loaded from: what a request's parameters text
  // records when the request names no model.
  const std::filesystem::path& path() const { return path_; }
  const std::filesystem::path& vae_override() const { return vae_override_; }
  // The ControlNet at `path` (file or diffusers folder) at the model's precision, loaded and checked
  // against the model on the first call for that path, then shared. Thread-safe.
  std::shared_ptr<const ControlNet> controlnet(const std::string& path);
  // Forgets the cached ControlNets (those in use stay alive until their run ends).
  void clear_controlnets();
  // The IP-Adapters, image encoders and reference-picture tokens requests used (ip_adapter_cache.h).
  IpAdapterCache& ip_adapter_cache() { return ip_adapter_cache_; }
  // The SDXL refiner at `path` for the refiner hand-off, loaded on the first call for that path with the
  // options the model was loaded with (its VAE override included, as A1111's selected VAE applies to the
  // refiner too), then kept for later requests. A model that is not an SDXL refiner is a ParameterError.
  // Thread-safe.
  std::shared_ptr<const SdModel> refiner(const std::string& path);
  // The textual-inversion embeddings requests used (embedding_cache.h).
  EmbeddingCache& embedding_cache() { return embedding_cache_; }

 private:
  friend struct GenerationLock;
  friend GenerationResult generate(ModelSet& models, const GenerationRequest& request);
  // Makes the model carry exactly `loras` (in order; generate() calls it under the run lock). Nothing
  // changes when they are the ones it carries already (same files, unchanged on disk, same multipliers).
  void set_loras(const std::vector<RequestLora>& loras);

  SdModel model_;
  std::unique_ptr<LoraLayers> lora_layers_;  // built on first use
  std::vector<std::string> lora_key_;        // what the model carries now
  std::filesystem::path path_, vae_override_;
  std::mutex controlnets_mutex_;
  std::map<std::string, std::shared_ptr<const ControlNet>> controlnets_;
  IpAdapterCache ip_adapter_cache_;
  SdModelOptions options_;
  std::mutex refiners_mutex_;
  std::map<std::string, std::shared_ptr<const SdModel>> refiners_;
  EmbeddingCache embedding_cache_;
  std::mutex run_mutex_;  // one generate() at a time
};

// The pictures a request works on. Each may be given in memory; when it is not, it is read from the path
// in GenerationParams (init_image, mask, controls[i].image, ip_adapters[i].image, reference->image). No init
// image at all: txt2img.
struct GenerationImages {
  std::optional<Image> init;
  std::optional<Image> mask;                      // white = repaint (grey levels; alpha is the mask)
  std::vector<std::optional<Image>> controls;     // index i: controls[i] of the params
  std::vector<std::optional<Image>> ip_adapters;  // index i: the reference picture of ip_adapters[i]
  std::optional<Image> reference;                 // the reference unit's picture (params.reference->image)
};

// Where a run is, for progress bars and previews.
struct GenerationProgress {
  int step = 0;   // 1-based, within this batch
  int steps = 0;  // denoising steps per batch
  int batch = 0;  // 0-based
  int batches = 0;
  const Tensor* latents = nullptr;  // [batch_size, h, w, 4] after this step (preview_image reads it)
};
// Called after every denoising step; returning false cancels the run (generate() throws Cancelled).
using ProgressCallback = std::function<bool(const GenerationProgress&)>;

struct GeneratedImage {
  Image image;             // 8-bit RGB at the output size
  int64_t seed = 0;        // the seed that makes this picture alone (batch position 0, batch size 1)
  std::string parameters;  // AUTOMATIC1111's PNG `parameters` text
};

struct GenerationRequest {
  // The settings; recorded in every picture's parameters text (infotext.h: model files by name and short
  // hash, no paths unless params.infotext_paths). `model` and `vae` only name what the ModelSet holds (left
  // empty, the ModelSet's paths are used).
  GenerationParams params;
  GenerationImages images;
  // Debugging: noise drawn from these tensors in order (a safetensors file's tensors) instead of seeds.
  std::vector<Tensor> replay_noise;
  ProgressCallback progress;
  // Called with each picture as soon as it is finished (before generate() returns), e.g. to save it.
  std::function<void(const GeneratedImage&)> on_image;
  const std::atomic<bool>* cancel = nullptr;  // set from anywhere: the run stops before its next UNet call
};

struct GenerationResult {
  std::vector<GeneratedImage> images;  // batch_count x batch_size, in seed order
  int64_t seed = 0;                    // the first image's (params.seed, or the random one picked for -1)
  // Inpainting with a mask that leaves nothing to repaint: the one image is the source at the output size
  // and nothing was generated.
  bool nothing_to_repaint = false;
  int width = 0, height = 0;         // the size generated at (with only-masked inpainting: the work area's)
  std::vector<std::string> notices;  // things the user should know (e.g. "the mask was resized to the image")
};

// The checks generate() starts with (settings, sampler and schedule names, a strength that leaves no step,
// IP-Adapter units without a picture; no file is read): front ends call it to fail fast, before loading a
// model. Throws ParameterError.
void validate_request(const GenerationRequest& request);

// Reads every picture the params name by path that the request does not hold in memory yet (init image,
// mask, control images, IP-Adapter pictures, reference image), so that a bad file is reported before a
// model is loaded. Throws
// i2i::Error.
void read_request_images(GenerationRequest& request);

// Runs the request. Throws ParameterError for bad settings (naming the parameter), i2i::Error for bad
// files, images or models, and Cancelled when cancelled.
GenerationResult generate(ModelSet& models, const GenerationRequest& request);

// AUTOMATIC1111's "Approx cheap" preview of picture `b` of latents [B, h, w, 4]: a fixed linear map from
// the 4 latent channels to RGB, at latent resolution (h x w).
Image preview_image(const Tensor& latents, int64_t b);

}  // namespace i2i
