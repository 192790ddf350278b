// Timestep conditioning of the UNet: the sinusoidal projection (diffusers Timesteps /
// get_timestep_embedding) and the time MLP (TimestepEmbedding: linear_1 -> SiLU -> linear_2).
#pragma once

#include <vector>

#include "models/layer_visitor.h"
#include "models/unet_layers.h"

namespace i2i {

// timesteps [B] (fractional allowed) -> [B, dim]: frequencies exp(-ln(10000) * i / (dim/2 - freq_shift)),
// [sin | cos] of t * freq, halves swapped when flip_sin_to_cos (cos first). Computed in float32 with the
// same rounding steps as diffusers.
Tensor timestep_embedding(const std::vector<float>& timesteps, int64_t dim, bool flip_sin_to_cos,
                          float freq_shift);

class TimestepMlp {
 public:
  TimestepMlp() = default;
  // `<prefix>linear_1` [out, in], `<prefix>linear_2` [out, out].
  TimestepMlp(const Weights& w, const std::string& prefix, int64_t in, int64_t out, Precision precision);
  Tensor operator()(const Tensor& x) const;

  // Its prepared layers, named `prefix` + the diffusers module path (models/layer_visitor.h).
  void visit_layers(const std::string& prefix, const LayerVisitor& f);

 private:
  Linear linear_1_, linear_2_;
};

}  // namespace i2i
