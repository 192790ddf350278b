// Timestep conditioning of the UNet: the sinusoidal projection (diffusers Timesteps /
// get_timestep_embedding) and the time MLP (TimestepEmbedding: linear_1 -> SiLU -> linear_2).
#pragma once

#include <optional>
#include <vector>

#include "models/layer_visitor.h"
#include "models/unet_layers.h"

namespace i2i {

// timesteps [B] (fractional allowed) -> [B, dim]: frequencies exp(-ln(10000) * i / (dim/2 - freq_shift)),
// [sin | cos] of t * freq, halves swapped when flip_sin_to_cos (cos first). Computed in float32 with the
// same rounding steps as diffusers.
Tensor timestep_embedding(const std::vector<float>& timesteps, int64_t dim, bool flip_sin_to_cos,
                          float freq_shift);

// LCM's guidance-scale embedding (diffusers get_guidance_scale_embedding, the pipelines' timestep_cond):
// w [B] -> [B, dim]: with w' = 1000 w and freq_i = exp(-i ln(10000) / (dim/2 - 1)), [sin(w' freq) | cos(w'
// freq)] (sin first), an odd dim padded with a zero column. Float32 as diffusers computes it. The pipelines
// pass w = guidance_scale - 1.
Tensor guidance_scale_embedding(const std::vector<float>& w, int64_t dim);

class TimestepMlp {
 public:
  TimestepMlp() = default;
  // `<prefix>linear_1` [out, in], `<prefix>linear_2` [out, out]; with cond_dim > 0 also `<prefix>cond_proj`
  // [in, cond_dim] without bias (diffusers TimestepEmbedding's cond_proj: LCM's guidance embedding).
  TimestepMlp(const Weights& w, const std::string& prefix, int64_t in, int64_t out, Precision precision,
              int64_t cond_dim = 0);
  // linear_2(silu(linear_1(x + cond_proj(cond)))); `cond` [B, cond_dim] exactly when the MLP has cond_proj.
  Tensor operator()(const Tensor& x, const Tensor& cond = {}) const;

  // Its prepared layers, named `prefix` + the diffusers module path (models/layer_visitor.h).
  void visit_layers(const std::string& prefix, const LayerVisitor& f);

 private:
  Linear linear_1_, linear_2_;
  std::optional<Linear> cond_proj_;
};

}  // namespace i2i
