#include "models/lora_apply.h"

#include <algorithm>
#include <utility>

#include "core/error.h"
#include "core/parallel_errors.h"
#include "kernels/low_rank.h"

namespace i2i {

namespace {

// One delta on a layer's stacked weight [rows, cols]: rows [row_begin, row_begin + update.rows()) get
// update's rows (up with the scale folded in, @ down).
struct Delta {
  int64_t row_begin = 0;
  LowRankUpdate update;
};

Delta make_delta(const LoraModule& m, float scale, int64_t row_begin, int64_t weight_rows, int64_t cols,
                 bool bf16_products) {
  const int64_t out = m.up.dim(0), rank = m.rank();
  if (m.up.numel() != out * rank || m.down.numel() != rank * cols || row_begin < 0 ||
      row_begin + out > weight_rows)
    throw Error("LoRA " + m.key + ": down " + shape_str(m.down.shape()) + " and up " +
                shape_str(m.up.shape()) + " do not give a delta for rows " + std::to_string(row_begin) +
                ".." + std::to_string(row_begin + out) + " of a weight [" + std::to_string(weight_rows) +
                ", " + std::to_string(cols) + "]");
  std::vector<float> up(static_cast<size_t>(out * rank)), down(static_cast<size_t>(rank * cols));
  convert_to_f32(m.up.raw(), m.up.dtype(), up.data(), up.size());
  for (float& u : up) u *= scale;
  convert_to_f32(m.down.raw(), m.down.dtype(), down.data(), down.size());
  return {row_begin, LowRankUpdate(std::move(up), std::move(down), out, rank, cols, bf16_products)};
}

// The weight `blocks` (row blocks of one layer, any float dtype; a conv's [out, in, kh, kw] counts as
// [out, in * kh * kw]) stacked [rows, cols] plus `deltas`, as float32 or (dtype BF16) rounded to bf16, in
// one pass: tiles of rows are converted to float32 and get their deltas while they are in cache, split over
// the OpenMP threads.
// `buffer` holds the result (grown when too small, reused from layer to layer: no fresh pages to fault in and
// zero for every layer); the returned tensor is a view of it, valid until the next call.
Tensor merged_weight(const std::vector<Tensor>& blocks, const Shape& shape, const std::vector<Delta>& deltas,
                     DType dtype, Tensor& buffer) {
  const int64_t cols = blocks[0].numel() / blocks[0].dim(0);
  std::vector<int64_t> starts;  // each block's first row
  int64_t rows = 0;
  for (const Tensor& b : blocks) {
    starts.push_back(rows);
    rows += b.dim(0);
  }
  const auto bytes = static_cast<int64_t>(shape_numel(shape) * dtype_size(dtype));
  if (!buffer.defined() || buffer.numel() < bytes) {
    buffer = Tensor();  // the old one goes first
    buffer = Tensor::empty({bytes}, DType::U8);
  }
  Tensor out = Tensor::borrow(buffer.raw(), shape, dtype, nullptr);
  constexpr int64_t kTile = 32;
  const int64_t tiles = (rows + kTile - 1) / kTile;
  const bool bf16 = dtype == DType::BF16;
  ParallelErrors errors;  // the per-thread tile is allocated in the loop: std::bad_alloc is thrown after it
#pragma omp parallel for schedule(dynamic, 4)
  for (int64_t t = 0; t < tiles; ++t)
    errors.run([&] {
      const int64_t r0 = t * kTile, r1 = std::min(rows, r0 + kTile);
      // float32 rows r0 .. r1 - 1: the result's own rows, or (bf16) a per-thread tile at offset r0.
      thread_local std::vector<float> tile;
      if (bf16) tile.resize(static_cast<size_t>(kTile * cols));
      float* first = bf16 ? tile.data() : out.data<float>() + r0 * cols;
      const auto row = [&](int64_t r) { return first + (r - r0) * cols; };
      for (size_t b = 0; b < blocks.size(); ++b) {
        const int64_t b0 = std::max(r0, starts[b]), b1 = std::min(r1, starts[b] + blocks[b].dim(0));
        if (b0 >= b1) continue;
        const auto* src = static_cast<const unsigned char*>(blocks[b].raw()) +
                          static_cast<size_t>((b0 - starts[b]) * cols) * dtype_size(blocks[b].dtype());
        convert_to_f32(src, blocks[b].dtype(), row(b0), static_cast<size_t>((b1 - b0) * cols));
      }
      for (const Delta& d : deltas) {
        const int64_t d0 = std::max(r0, d.row_begin), d1 = std::min(r1, d.row_begin + d.update.rows());
        if (d0 < d1) d.update.add_to_rows(row(d0), d0 - d.row_begin, d1 - d0);
      }
      if (bf16) round_to_bf16(tile.data(), out.data<uint16_t>() + r0 * cols, (r1 - r0) * cols);
    });
  errors.rethrow();
  return out;
}

// Replaces a Linear by make(layer without its prepared weights): the old prepared weights are freed first
// (when nothing else holds them), so the new ones take their memory from the tensor arena's cache of freed
// blocks instead of fresh pages the kernel must zero, and the two copies are never resident together.
// Should make() throw (memory), the layer is rebuilt from its source (or, failing that too, stays released:
// running it then is an error saying so, kernels/linear.h).
template <typename Make>
void replace_linear(Linear& layer, Make make) {
  const Linear released = layer.released();
  layer = released;
  try {
    layer = make(released);
  } catch (...) {
    try {
      layer = released.rebuilt();
    } catch (...) {
    }
    throw;
  }
}

// The layer prepared again from its source.
void rebuild(LayerRef& r) {
  if (r.linear)
    replace_linear(*r.linear, [](const Linear& l) { return l.rebuilt(); });
  else
    *r.conv = r.conv->rebuilt();
}

}  // namespace

void add_lora_delta(Tensor& weight, const LoraModule& m, float scale) {
  const int64_t out = m.up.dim(0), rank = m.rank(), cols = m.down.numel() / rank;
  if (weight.dtype() != DType::F32 || weight.dim(0) != out || weight.numel() != out * cols)
    throw Error("LoRA " + m.key + ": weight " + shape_str(weight.shape()) + " does not take a delta [" +
                std::to_string(out) + ", " + std::to_string(cols) + "]");
  make_delta(m, scale, 0, out, cols, false).update.add_to_rows(weight.data<float>(), 0, out);
}

LoraLayers::LoraLayers(std::string model, std::string family, int unet_layers_per_block)
    : targets_(std::move(model), std::move(family), unet_layers_per_block) {}

void LoraLayers::add_component(LoraComponent component,
                               const std::function<void(const LayerVisitor&)>& visit) {
  visit([&](const LayerRef& ref) {
    const size_t slot = slots_.size();
    slots_.push_back(ref);
    slot_components_.push_back(component);
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

LoraLayers::Deltas LoraLayers::resolve_deltas(const std::vector<LoraUse>& uses) const {
  Deltas deltas;
  for (const LoraUse& use : uses) {
    check(use.file != nullptr, "LoRA: no file");
    for (const LoraAssignment& a : targets_.resolve(*use.file)) {
      const double mult =
          a.module->component == LoraComponent::Unet ? use.unet_multiplier : use.te_multiplier;
      if (mult == 0) continue;
      deltas[blocks_[a.target].slot].push_back({a, static_cast<float>(mult * a.module->scale())});
    }
  }
  return deltas;
}

void LoraLayers::merge(size_t slot, const std::vector<std::pair<LoraAssignment, float>>& deltas) {
  LayerRef& r = slots_[slot];
  const std::vector<Tensor> blocks =
      r.conv ? std::vector<Tensor>{r.conv->source().weight} : r.linear->source().weights;
  Shape shape = blocks[0].shape();
  for (size_t b = 1; b < blocks.size(); ++b) shape[0] += blocks[b].dim(0);
  const int64_t cols = blocks[0].numel() / blocks[0].dim(0);
  // A bf16 layer: the delta is computed from up and down rounded to bf16 where the CPU has bf16 products
  // (float32 sums; kernels/low_rank.h says why that is enough), and the merged weight is rounded to bf16
  // here (what preparing it from float32 would round to, with half the bytes to write and read again).
  const Precision precision = r.conv ? r.conv->source().precision : r.linear->source().precision;
  const bool bf16 = precision == Precision::BF16;
  std::vector<Delta> list;
  for (const auto& [a, scale] : deltas)
    list.push_back(make_delta(*a.module, scale, blocks_[a.target].row_begin, shape[0], cols, bf16));
  const Tensor w = merged_weight(blocks, shape, list, bf16 ? DType::BF16 : DType::F32, merge_buffer_);
  // The source was read whole: its pages of the mapped file go (as after loading, kernels/layers.cpp).
  for (const Tensor& b : blocks) b.release_file_pages();
  if (r.linear)
    replace_linear(*r.linear, [&](const Linear& l) { return l.with_weight(w); });
  else
    *r.conv = r.conv->with_weight(w);
}

// Frees the merge buffer when a merge ends, normally or not (first of all on failure, usually a lack of
// memory, before the layers are rebuilt).
struct FreeWhenDone {
  Tensor& buffer;
  ~FreeWhenDone() { buffer = Tensor(); }
};

void LoraLayers::apply(const std::vector<LoraUse>& uses) {
  // Resolve everything first: slot -> (target, module, scale) in order.
  const Deltas deltas = resolve_deltas(uses);
  std::set<size_t> next;
  for (const auto& [slot, list] : deltas) next.insert(slot);
  uses_.clear();
  try {
    const FreeWhenDone done{merge_buffer_};
    for (size_t slot : changed_)
      if (!next.count(slot)) rebuild(slots_[slot]);
    for (const auto& [slot, list] : deltas) {
      changed_.insert(slot);  // first: should the merge fail half-way, the layer is rebuilt below
      merge(slot, list);
    }
  } catch (...) {
    // Every changed layer back to its original. One that cannot be rebuilt either (memory) stays in
    // changed_, so that the next apply tries again (a Linear is left released meanwhile: running it is an
    // error saying so, never the LoRA's weights), and the others are still rebuilt.
    std::set<size_t> failed;
    for (size_t slot : changed_) {
      try {
        rebuild(slots_[slot]);
      } catch (...) {
        failed.insert(slot);
      }
    }
    changed_ = std::move(failed);
    throw;
  }
  changed_ = std::move(next);
  uses_ = uses;
}

void LoraLayers::remerge(LoraComponent component) {
  const FreeWhenDone done{merge_buffer_};
  for (const auto& [slot, list] : resolve_deltas(uses_))
    if (slot_components_[slot] == component) merge(slot, list);
}

}  // namespace i2i
