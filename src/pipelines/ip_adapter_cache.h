// What a ModelSet keeps for IP-Adapter requests between runs: the adapters (one per file, loaded and checked
// against the model on first use), the CLIP image encoders (one per folder) and the image tokens of recent
// reference pictures, so that repeated runs with the same picture do not run the image encoder again
// (the "cached by image"). Thread-safe; loading happens outside the lock (two threads asking for the
// same file at once may both load it, the first to finish is kept), as ModelSet::controlnet does.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/tensor.h"
#include "io/image.h"
#include "models/clip_vision.h"
#include "models/ip_adapter.h"
#include "pipelines/sd_model.h"

namespace i2i {

class IpAdapterCache {
 public:
  // The adapter at `path` for `model`'s UNet at the model's precision (load_ip_adapter's errors).
  std::shared_ptr<const IpAdapter> adapter(const std::string& path, const SdModel& model);
  // The CLIP vision encoder in the transformers folder `dir` at `precision` (load_clip_vision_folder's
  // errors).
  std::shared_ptr<const ClipVisionEncoder> encoder(const std::string& dir, Precision precision);
  // The [negative, positive] image tokens [2, N, D] of `image` for the adapter at `adapter_path` with the
  // encoder at `encoder_dir` (diffusers' encode_image + the projection; ip_image_embeds.h). The encoder runs
  // on the first request for a picture; the last kMaxImages results are kept, keyed by what the encoder
  // sees (the CLIP processor's pixel values, compared in full, not only by a hash).
  Tensor tokens(const std::string& adapter_path, const IpAdapter& adapter, const std::string& encoder_dir,
                const ClipVisionEncoder& encoder, const Image& image);
  // How often tokens() ran the image encoder (tests check the caching).
  int64_t encoder_runs() const;
  // Forgets everything (adapters and encoders in use stay alive until their run ends).
  void clear();

  static constexpr size_t kMaxImages = 8;

 private:
  struct TokensEntry {
    std::string adapter, encoder;
    uint64_t hash = 0;
    Tensor pixels;  // the processor's output
    Tensor tokens;
  };
  template <typename T, typename Load>
  std::shared_ptr<const T> find_or_load(std::map<std::string, std::shared_ptr<const T>>& cache,
                                        const std::string& key, Load load);

  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const IpAdapter>> adapters_;
  std::map<std::string, std::shared_ptr<const ClipVisionEncoder>> encoders_;
  std::deque<TokensEntry> tokens_;  // oldest first
  int64_t encoder_runs_ = 0;
};

}  // namespace i2i
