#include "models/vae.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/memory.h"
#include "core/phase_timer.h"
#include "kernels/ops.h"

namespace i2i {

Tensor VaePosterior::std() const {
  Tensor s = Tensor::empty(logvar.shape());
  const float* lv = logvar.data<float>();
  float* o = s.data<float>();
  for (int64_t i = 0; i < s.numel(); ++i) o[i] = std::exp(0.5f * lv[i]);
  return s;
}

AutoencoderKL::AutoencoderKL(const Weights& w, const VaeConfig& config, Precision precision)
    : config_(config) {
  const phase_timer::ComponentScope component("vae");
  const phase_timer::Scope timed("load");
  config_.validate(w.origin());
  const int64_t l = config_.latent_channels;
  encoder_ = VaeEncoder(w, "encoder.", config_, precision);
  decoder_ = VaeDecoder(w, "decoder.", config_, precision);
  quant_conv_ = load_conv(w, "quant_conv", 2 * l, 2 * l, 1, 1, Padding{}, precision);
  post_quant_conv_ = load_conv(w, "post_quant_conv", l, l, 1, 1, Padding{}, precision);
}

Tensor AutoencoderKL::encoder_output(const Tensor& image) const {
  const int64_t f = downscale();
  check(image.ndim() == 4 && image.dim(3) == config_.in_channels && image.dtype() == DType::F32,
        "VAE: image must be float32 [N, H, W, " + std::to_string(config_.in_channels) + "], got " +
            shape_str(image.shape()));
  check(image.dim(1) % f == 0 && image.dim(2) % f == 0 && image.dim(1) > 0 && image.dim(2) > 0,
        "VAE: image size " + std::to_string(image.dim(2)) + "x" + std::to_string(image.dim(1)) +
            " is not a multiple of " + std::to_string(f));
  return encoder_(image);
}

Tensor AutoencoderKL::moments(const Tensor& image) const {
  return quant_conv_(encoder_output(image));
}

VaePosterior AutoencoderKL::split_moments(const Tensor& m) {
  check(m.ndim() == 4 && m.dim(3) % 2 == 0, "VAE: moments must be [N, h, w, 2*latent]");
  const int64_t c = m.dim(3) / 2, rows = m.numel() / m.dim(3);
  Shape s = m.shape();
  s[3] = c;
  VaePosterior p{Tensor::empty(s), Tensor::empty(s)};
  const float* src = m.data<float>();
  float* mean = p.mean.data<float>();
  float* logvar = p.logvar.data<float>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < c; ++k) {
      mean[r * c + k] = src[r * 2 * c + k];
      logvar[r * c + k] = std::clamp(src[r * 2 * c + c + k], -30.0f, 20.0f);
    }
  return p;
}

VaePosterior AutoencoderKL::encode(const Tensor& image) const {
  const phase_timer::ComponentScope component("vae");
  const phase_timer::Scope timed("encode");
  return split_moments(moments(image));
}

Tensor AutoencoderKL::post_quant(const Tensor& z) const {
  check(z.ndim() == 4 && z.dim(3) == config_.latent_channels && z.dtype() == DType::F32,
        "VAE: latent must be float32 [N, h, w, " + std::to_string(config_.latent_channels) + "], got " +
            shape_str(z.shape()));
  return post_quant_conv_(z);
}

Tensor AutoencoderKL::decode(const Tensor& z) const {
  const phase_timer::ComponentScope component("vae");
  const phase_timer::Scope timed("decode");
  return decoder_(post_quant(z));
}

VaePosterior AutoencoderKL::encode_tiled(const Tensor& image, const VaeTiling& t) const {
  const int64_t f = downscale();
  check(image.ndim() == 4, "VAE: image must be [N, H, W, C], got " + shape_str(image.shape()));
  check(t.tile > 0 && t.overlap >= 0 && t.overlap < t.tile, "VAE tiling: need 0 <= overlap < tile");
  Tensor m = run_tiled(image, t.tile * f, t.overlap * f, 1, f, [&](const Tensor& x) { return moments(x); });
  return split_moments(m);
}

int64_t vae_working_bytes(const VaeConfig& config, int64_t n, int64_t height, int64_t width) {
  const auto& ch = config.block_out_channels;
  const int64_t c0 = ch.empty() ? 128 : ch[0];
  const int64_t wide = ch.size() > 1 ? std::max(ch[0], ch[1]) : c0;  // the decoder's last upsampled width
  return n * height * width * int64_t{4} * (3 * wide + c0);
}

bool vae_should_tile(int64_t working_bytes, int64_t available_bytes) {
  return available_bytes >= 0 && working_bytes > available_bytes / 4 * 3;
}

namespace {
int64_t resolve_available(int64_t available_bytes) {
  return available_bytes < -1 ? available_memory_bytes() : available_bytes;
}
}  // namespace

VaePosterior AutoencoderKL::encode_auto(const Tensor& image, int64_t available_bytes) const {
  const int64_t need =
      image.ndim() == 4 ? vae_working_bytes(config_, image.dim(0), image.dim(1), image.dim(2)) : 0;
  return vae_should_tile(need, resolve_available(available_bytes)) ? encode_tiled(image) : encode(image);
}

Tensor AutoencoderKL::decode_auto(const Tensor& z, int64_t available_bytes) const {
  const int64_t f = downscale();
  const int64_t need = z.ndim() == 4 ? vae_working_bytes(config_, z.dim(0), z.dim(1) * f, z.dim(2) * f) : 0;
  return vae_should_tile(need, resolve_available(available_bytes)) ? decode_tiled(z) : decode(z);
}

Tensor AutoencoderKL::decode_tiled(const Tensor& z, const VaeTiling& t) const {
  check(t.tile > 0 && t.overlap >= 0 && t.overlap < t.tile, "VAE tiling: need 0 <= overlap < tile");
  return run_tiled(z, t.tile, t.overlap, downscale(), 1, [&](const Tensor& x) { return decode(x); });
}

}  // namespace i2i
