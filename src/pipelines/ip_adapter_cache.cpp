#include "pipelines/ip_adapter_cache.h"

#include <cstring>
#include <filesystem>

#include "models/clip_vision_load.h"
#include "models/ip_image_embeds.h"
#include "preprocess/clip_image_processor.h"

namespace i2i {
namespace {

uint64_t bytes_hash(const Tensor& t) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  const auto* p = static_cast<const uint8_t*>(t.raw());
  for (size_t i = 0; i < t.nbytes(); ++i) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace

// The cached value for `key`, or load() made shared and kept. Loading runs outside the lock (it may take
// seconds); when two threads load the same key, the first one stored wins.
template <typename T, typename Load>
std::shared_ptr<const T> IpAdapterCache::find_or_load(std::map<std::string, std::shared_ptr<const T>>& cache,
                                                      const std::string& key, Load load) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
  }
  auto value = std::make_shared<const T>(load());
  std::lock_guard<std::mutex> lock(mutex_);
  return cache.emplace(key, std::move(value)).first->second;
}

std::shared_ptr<const IpAdapter> IpAdapterCache::adapter(const std::string& path, const SdModel& model) {
  return find_or_load(adapters_, path, [&] {
    return load_ip_adapter(path, model.unet, model.checkpoint.path.filename().string(), model.precision);
  });
}

std::shared_ptr<const ClipVisionEncoder> IpAdapterCache::encoder(const std::string& dir,
                                                                 Precision precision) {
  return find_or_load(encoders_, dir, [&] { return load_clip_vision_folder(dir, precision); });
}

Tensor IpAdapterCache::tokens(const std::string& adapter_path, const IpAdapter& adapter,
                              const std::string& encoder_dir, const ClipVisionEncoder& encoder,
                              const Image& image) {
  // The key is what the encoder sees: the processor's pixel values (resize, crop and normalise are cheap).
  const Tensor pixels = clip_image_pixels(image, static_cast<int>(encoder.config().image_size));
  const uint64_t hash = bytes_hash(pixels);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const TokensEntry& e : tokens_)
      if (e.hash == hash && e.adapter == adapter_path && e.encoder == encoder_dir &&
          e.pixels.nbytes() == pixels.nbytes() &&
          std::memcmp(e.pixels.raw(), pixels.raw(), pixels.nbytes()) == 0)
        return e.tokens;
  }
  const IpImageEmbeds embeds = encode_ip_image(encoder, adapter.projection.info().variant, pixels);
  Tensor t = ip_image_tokens(adapter.projection, embeds);
  std::lock_guard<std::mutex> lock(mutex_);
  ++encoder_runs_;
  tokens_.push_back({adapter_path, encoder_dir, hash, pixels, t});
  if (tokens_.size() > kMaxImages) tokens_.pop_front();
  return t;
}

int64_t IpAdapterCache::encoder_runs() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return encoder_runs_;
}

void IpAdapterCache::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  adapters_.clear();
  encoders_.clear();
  tokens_.clear();
}

}  // namespace i2i
