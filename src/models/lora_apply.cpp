#include "models/lora_apply.h"

#include <cstring>
#include <map>
#include <utility>

#include "core/error.h"

namespace i2i {

namespace {

// A float32 copy (never a view: the result is written to) of `t`'s values.
Tensor f32_copy(const Tensor& t) {
  Tensor out = Tensor::empty(t.shape());
  convert_to_f32(t.raw(), t.dtype(), out.data<float>(), static_cast<size_t>(t.numel()));
  return out;
}

// [rows, cols] float32 transposed.
Tensor transposed(const Tensor& t) {
  const int64_t rows = t.dim(0), cols = t.dim(1);
  Tensor out = Tensor::empty({cols, rows});
  const float* s = t.data<float>();
  float* d = out.data<float>();
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) d[j * rows + i] = s[i * cols + j];
  return out;
}

// The layer's original weight as float32, row blocks stacked (a conv keeps its 4-d shape).
Tensor original_weight(const LayerRef& ref) {
  if (ref.conv) return f32_copy(ref.conv->source().weight);
  const auto& blocks = ref.linear->source().weights;
  int64_t rows = 0;
  for (const Tensor& b : blocks) rows += b.dim(0);
  Tensor out = Tensor::empty({rows, blocks[0].dim(1)});
  float* dst = out.data<float>();
  for (const Tensor& b : blocks) {
    convert_to_f32(b.raw(), b.dtype(), dst, static_cast<size_t>(b.numel()));
    dst += b.numel();
  }
  return out;
}

}  // namespace

void add_lora_delta(Tensor& weight, const LoraModule& m, float scale) {
  const int64_t out = m.up.dim(0), rank = m.rank(), cols = m.down.numel() / rank;
  if (weight.dtype() != DType::F32 || weight.dim(0) != out || weight.numel() != out * cols)
    throw Error("LoRA " + m.key + ": weight " + shape_str(weight.shape()) + " does not take a delta [" +
                std::to_string(out) + ", " + std::to_string(cols) + "]");
  // W += (scale * up) @ down as one GEMM accumulating into W: a Linear layer whose weight is down^T.
  Tensor up = f32_copy(m.up).reshape({out, rank});
  float* u = up.data<float>();
  for (int64_t i = 0, n = up.numel(); i < n; ++i) u[i] *= scale;
  const Linear down_t(transposed(f32_copy(m.down).reshape({rank, cols})), Tensor(), Precision::F32);
  Tensor w = weight.reshape({out, cols});
  down_t.accumulate(up, w);
}

LoraLayers::LoraLayers(std::string model, std::string family, int unet_layers_per_block)
    : targets_(std::move(model), std::move(family), unet_layers_per_block) {}

void LoraLayers::add_component(LoraComponent component,
                               const std::function<void(const LayerVisitor&)>& visit) {
  visit([&](const LayerRef& ref) {
    const size_t slot = slots_.size();
    slots_.push_back(ref);
    if (ref.conv) {
      targets_.add(component, ref.modules.at(0), ref.conv->source().weight.shape());
      blocks_.push_back({slot, 0});
      return;
    }
    const auto& weights = ref.linear->source().weights;
    check(weights.size() == ref.modules.size(), "LoRA: layer " + ref.modules.at(0) + " has " +
                                                    std::to_string(weights.size()) + " weight blocks for " +
                                                    std::to_string(ref.modules.size()) + " names");
    int64_t row = 0;
    for (size_t b = 0; b < weights.size(); ++b) {
      targets_.add(component, ref.modules[b], weights[b].shape());
      blocks_.push_back({slot, row});
      row += weights[b].dim(0);
    }
  });
}

void LoraLayers::apply(const std::vector<LoraUse>& uses) {
  // Resolve everything first: slot -> (target, module, scale) in order.
  std::map<size_t, std::vector<std::pair<LoraAssignment, float>>> deltas;
  for (const LoraUse& use : uses) {
    check(use.file != nullptr, "LoRA: no file");
    for (const LoraAssignment& a : targets_.resolve(*use.file)) {
      const double mult =
          a.module->component == LoraComponent::Unet ? use.unet_multiplier : use.te_multiplier;
      if (mult == 0) continue;
      deltas[blocks_[a.target].slot].push_back({a, static_cast<float>(mult * a.module->scale())});
    }
  }
  std::set<size_t> next;
  for (const auto& [slot, list] : deltas) next.insert(slot);
  try {
    for (size_t slot : changed_)
      if (!next.count(slot)) {
        LayerRef& r = slots_[slot];
        if (r.linear)
          *r.linear = r.linear->rebuilt();
        else
          *r.conv = r.conv->rebuilt();
      }
    for (const auto& [slot, list] : deltas) {
      LayerRef& r = slots_[slot];
      Tensor w = original_weight(r);
      for (const auto& [a, scale] : list) {
        const LoraTarget& t = targets_.targets()[a.target];
        const int64_t begin = blocks_[a.target].row_begin;
        Tensor rows = w.slice0(begin, begin + t.shape[0]);
        add_lora_delta(rows, *a.module, scale);
      }
      if (r.linear)
        *r.linear = r.linear->with_weight(w);
      else
        *r.conv = r.conv->with_weight(w);
      changed_.insert(slot);
    }
  } catch (...) {
    for (size_t slot : changed_) {
      LayerRef& r = slots_[slot];
      if (r.linear)
        *r.linear = r.linear->rebuilt();
      else
        *r.conv = r.conv->rebuilt();
    }
    changed_.clear();
    throw;
  }
  changed_ = std::move(next);
}

}  // namespace i2i
