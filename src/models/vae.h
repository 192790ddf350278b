// AutoencoderKL (diffusers): encode an image to the posterior's mean / log-variance, decode a latent.
// Images NHWC in [-1, 1]; latents NHWC and UNSCALED (pipelines multiply by config().scaling_factor after
// encoding and divide before decoding). A tiled mode bounds memory for large images.
#pragma once

#include <functional>

#include "models/vae_blocks.h"

namespace i2i {

struct VaePosterior {
  Tensor mean;         // [N, h, w, latent]
  Tensor logvar;       // clamped to [-30, 20]
  Tensor std() const;  // exp(0.5 * logvar)
};

// Tiles are squares of `tile` latent pixels (8x that in image pixels for a 4-level VAE) overlapping by
// `overlap` latent pixels; the overlaps are cross-faded linearly. An input no larger than one tile is
// processed whole.
struct VaeTiling {
  int64_t tile = 64;
  int64_t overlap = 16;
};

class AutoencoderKL {
 public:
  AutoencoderKL() = default;
  AutoencoderKL(const Weights& w, const VaeConfig& config, Precision precision = Precision::F32);

  // image [N, H, W, in_channels] (H, W multiples of 2^(levels-1)) -> encoder output [N, h, w, 2*latent].
  Tensor encoder_output(const Tensor& image) const;
  // quant_conv(encoder_output(image)): channels [mean | logvar].
  Tensor moments(const Tensor& image) const;
  VaePosterior encode(const Tensor& image) const;
  // post_quant_conv(z).
  Tensor post_quant(const Tensor& z) const;
  // z [N, h, w, latent] (unscaled) -> [N, h*f, w*f, out_channels], the raw decoder output (not clamped).
  Tensor decode(const Tensor& z) const;

  VaePosterior encode_tiled(const Tensor& image, const VaeTiling& tiling = {}) const;
  Tensor decode_tiled(const Tensor& z, const VaeTiling& tiling = {}) const;

  // Whole or tiled, decided by vae_should_tile from the untiled run's working memory and the memory
  // available (`available_bytes` < -1: read /proc/meminfo's MemAvailable now; -1: unknown, never tile).
  // The pipelines use these, so images too large for memory are tiled automatically while ordinary
  // sizes (e.g. 512x512 in a few GB) run whole, exactly as encode / decode.
  VaePosterior encode_auto(const Tensor& image, int64_t available_bytes = -2) const;
  Tensor decode_auto(const Tensor& z, int64_t available_bytes = -2) const;

  const VaeConfig& config() const { return config_; }
  // Image pixels per latent pixel (2^(levels-1): 8 for Stable Diffusion).
  int64_t downscale() const { return int64_t{1} << (config_.levels() - 1); }

  static VaePosterior split_moments(const Tensor& moments);

 private:
  VaeConfig config_;
  VaeEncoder encoder_;
  VaeDecoder decoder_;
  Conv2d quant_conv_, post_quant_conv_;
};

// Estimated peak working memory, in bytes, of an untiled VAE run producing / reading an image of
// n x height x width pixels: three float32 activations of the widest full-resolution width plus one of the
// narrowest (a resnet's input, its normalised copy, its conv output and the compute-type copy), about
// 0.9 GiB for SD's VAE at 512x512 (measured: ~0.85 GB above the model for a bf16 decode).
int64_t vae_working_bytes(const VaeConfig& config, int64_t n, int64_t height, int64_t width);
// Tile when the untiled run would take more than 3/4 of the available memory; never when the available
// memory is unknown (< 0).
bool vae_should_tile(int64_t working_bytes, int64_t available_bytes);

// Runs `fn` on overlapping square tiles of NHWC x and blends the results (linear cross-fade in the overlaps,
// weights normalised). Input tile size `tile`, overlap `overlap` and every tile origin are in input pixels;
// fn maps an [N, th, tw, C] tile to [N, th*num/den, tw*num/den, C']. Input sizes must be multiples of `den`.
Tensor run_tiled(const Tensor& x, int64_t tile, int64_t overlap, int64_t num, int64_t den,
                 const std::function<Tensor(const Tensor&)>& fn);

}  // namespace i2i
