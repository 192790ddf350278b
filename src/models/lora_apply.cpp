#include "models/lora_apply.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <utility>

#include "core/error.h"

namespace i2i {

namespace {

// One delta on a layer's stacked weight [rows, cols]: rows [row_begin, row_begin + up_rows) get
// up @ down, with up [up_rows, rank] float32 holding the scale already and down [rank, cols] float32.
struct Delta {
  int64_t row_begin = 0, up_rows = 0, rank = 0;
  std::vector<float> up, down;
  // For a bf16 layer on a CPU with AVX512_BF16 (pack_bf16): up and down rounded to bf16, in pairs of k
  // (k = 2p, 2p + 1) for vdpbf16ps: up_pairs [up_rows, pairs], down_pairs [pairs, padded_cols] (zeros
  // beyond cols and for an odd rank's last k).
  int64_t pairs = 0, padded_cols = 0;
  std::vector<uint32_t> up_pairs, down_pairs;
};

void pack_bf16(Delta& d, int64_t cols) {
  d.pairs = (d.rank + 1) / 2;
  d.padded_cols = (cols + 63) / 64 * 64;
  d.up_pairs.assign(static_cast<size_t>(d.up_rows * d.pairs), 0);
  d.down_pairs.assign(static_cast<size_t>(d.pairs * d.padded_cols), 0);
  const auto pair = [](float lo, float hi) {
    return static_cast<uint32_t>(f32_to_bf16(lo)) | (static_cast<uint32_t>(f32_to_bf16(hi)) << 16);
  };
  for (int64_t i = 0; i < d.up_rows; ++i)
    for (int64_t p = 0; p < d.pairs; ++p) {
      const float* u = d.up.data() + i * d.rank;
      d.up_pairs[static_cast<size_t>(i * d.pairs + p)] =
          pair(u[2 * p], 2 * p + 1 < d.rank ? u[2 * p + 1] : 0.0f);
    }
  for (int64_t p = 0; p < d.pairs; ++p)
    for (int64_t j = 0; j < cols; ++j) {
      const float lo = d.down[static_cast<size_t>(2 * p * cols + j)];
      const float hi = 2 * p + 1 < d.rank ? d.down[static_cast<size_t>((2 * p + 1) * cols + j)] : 0.0f;
      d.down_pairs[static_cast<size_t>(p * d.padded_cols + j)] = pair(lo, hi);
    }
}

Delta make_delta(const LoraModule& m, float scale, int64_t row_begin, int64_t weight_rows, int64_t cols) {
  const int64_t out = m.up.dim(0), rank = m.rank();
  if (m.up.numel() != out * rank || m.down.numel() != rank * cols || row_begin < 0 ||
      row_begin + out > weight_rows)
    throw Error("LoRA " + m.key + ": down " + shape_str(m.down.shape()) + " and up " +
                shape_str(m.up.shape()) + " do not give a delta for rows " + std::to_string(row_begin) +
                ".." + std::to_string(row_begin + out) + " of a weight [" + std::to_string(weight_rows) +
                ", " + std::to_string(cols) + "]");
  Delta d;
  d.row_begin = row_begin;
  d.up_rows = out;
  d.rank = rank;
  d.up.resize(static_cast<size_t>(out * rank));
  d.down.resize(static_cast<size_t>(rank * cols));
  convert_to_f32(m.up.raw(), m.up.dtype(), d.up.data(), d.up.size());
  for (float& u : d.up) u *= scale;
  convert_to_f32(m.down.raw(), m.down.dtype(), d.down.data(), d.down.size());
  return d;
}

// w[i, :] += sum_k up[i, k] * down[k, :] for i < n: w rows of `cols` floats, up rows of `rank`, down
// [rank, cols]. Each row's delta is summed over k first (from 0, in order) and then added to w, as
// W + (up @ down) reads. Portable version (any column count); the AVX-512 one does 64-column strips.
void add_rows(float* w, int64_t n, int64_t cols, const float* up, int64_t rank, const float* down,
              int64_t from_col = 0) {
  constexpr int64_t kStrip = 16;
  float acc[kStrip];
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j0 = from_col; j0 < cols; j0 += kStrip) {
      const int64_t m = std::min(kStrip, cols - j0);
      std::fill(acc, acc + m, 0.0f);
      for (int64_t k = 0; k < rank; ++k) {
        const float a = up[i * rank + k];
        const float* d = down + k * cols + j0;
        for (int64_t j = 0; j < m; ++j) acc[j] += a * d[j];
      }
      float* wr = w + i * cols + j0;
      for (int64_t j = 0; j < m; ++j) wr[j] += acc[j];
    }
}

__attribute__((target("avx512f,fma"))) void add_rows_avx512(float* w, int64_t n, int64_t cols,
                                                            const float* up, int64_t rank,
                                                            const float* down) {
  const int64_t strips = cols / 64;
  for (int64_t s = 0; s < strips; ++s) {
    const int64_t j0 = s * 64;
    int64_t i = 0;
    for (; i + 2 <= n; i += 2) {  // two rows share every load of down
      __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
      const float* u0 = up + i * rank;
      const float* u1 = u0 + rank;
      for (int64_t k = 0; k < rank; ++k) {
        const float* d = down + k * cols + j0;
        const __m512 d0 = _mm512_loadu_ps(d), d1 = _mm512_loadu_ps(d + 16), d2 = _mm512_loadu_ps(d + 32),
                     d3 = _mm512_loadu_ps(d + 48);
        const __m512 x = _mm512_set1_ps(u0[k]), y = _mm512_set1_ps(u1[k]);
        a0 = _mm512_fmadd_ps(x, d0, a0);
        a1 = _mm512_fmadd_ps(x, d1, a1);
        a2 = _mm512_fmadd_ps(x, d2, a2);
        a3 = _mm512_fmadd_ps(x, d3, a3);
        b0 = _mm512_fmadd_ps(y, d0, b0);
        b1 = _mm512_fmadd_ps(y, d1, b1);
        b2 = _mm512_fmadd_ps(y, d2, b2);
        b3 = _mm512_fmadd_ps(y, d3, b3);
      }
      float* w0 = w + i * cols + j0;
      float* w1 = w0 + cols;
      _mm512_storeu_ps(w0, _mm512_add_ps(_mm512_loadu_ps(w0), a0));
      _mm512_storeu_ps(w0 + 16, _mm512_add_ps(_mm512_loadu_ps(w0 + 16), a1));
      _mm512_storeu_ps(w0 + 32, _mm512_add_ps(_mm512_loadu_ps(w0 + 32), a2));
      _mm512_storeu_ps(w0 + 48, _mm512_add_ps(_mm512_loadu_ps(w0 + 48), a3));
      _mm512_storeu_ps(w1, _mm512_add_ps(_mm512_loadu_ps(w1), b0));
      _mm512_storeu_ps(w1 + 16, _mm512_add_ps(_mm512_loadu_ps(w1 + 16), b1));
      _mm512_storeu_ps(w1 + 32, _mm512_add_ps(_mm512_loadu_ps(w1 + 32), b2));
      _mm512_storeu_ps(w1 + 48, _mm512_add_ps(_mm512_loadu_ps(w1 + 48), b3));
    }
    if (i < n) {
      // The odd last row: the portable loop on this strip only.
      float* wr = w + i * cols;
      const float* u = up + i * rank;
      __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (int64_t k = 0; k < rank; ++k) {
        const float* d = down + k * cols + j0;
        const __m512 x = _mm512_set1_ps(u[k]);
        a0 = _mm512_fmadd_ps(x, _mm512_loadu_ps(d), a0);
        a1 = _mm512_fmadd_ps(x, _mm512_loadu_ps(d + 16), a1);
        a2 = _mm512_fmadd_ps(x, _mm512_loadu_ps(d + 32), a2);
        a3 = _mm512_fmadd_ps(x, _mm512_loadu_ps(d + 48), a3);
      }
      _mm512_storeu_ps(wr + j0, _mm512_add_ps(_mm512_loadu_ps(wr + j0), a0));
      _mm512_storeu_ps(wr + j0 + 16, _mm512_add_ps(_mm512_loadu_ps(wr + j0 + 16), a1));
      _mm512_storeu_ps(wr + j0 + 32, _mm512_add_ps(_mm512_loadu_ps(wr + j0 + 32), a2));
      _mm512_storeu_ps(wr + j0 + 48, _mm512_add_ps(_mm512_loadu_ps(wr + j0 + 48), a3));
    }
  }
  if (strips * 64 < cols) add_rows(w, n, cols, up, rank, down, strips * 64);
}

// add_rows with bf16 products and float32 sums (vdpbf16ps: two k per instruction), for bf16 layers: w rows
// of `cols` floats; up_pairs / down_pairs as in Delta.
__attribute__((target("avx512f,avx512bf16"))) void add_rows_bf16(float* w, int64_t n, int64_t cols,
                                                                 const uint32_t* up_pairs, int64_t pairs,
                                                                 const uint32_t* down_pairs,
                                                                 int64_t padded_cols) {
  for (int64_t j0 = 0; j0 < cols; j0 += 64) {
    __mmask16 mask[4];
    for (int c = 0; c < 4; ++c) {
      const int64_t m = std::clamp<int64_t>(cols - j0 - 16 * c, 0, 16);
      mask[c] = static_cast<__mmask16>((1u << m) - 1u);
    }
    for (int64_t i = 0; i < n; i += 2) {
      const bool two = i + 1 < n;
      __m512 a[4], b[4];
      for (int c = 0; c < 4; ++c) a[c] = b[c] = _mm512_setzero_ps();
      const uint32_t* u0 = up_pairs + i * pairs;
      const uint32_t* u1 = two ? u0 + pairs : u0;
      for (int64_t p = 0; p < pairs; ++p) {
        const uint32_t* d = down_pairs + p * padded_cols + j0;
        const __m512bh x = (__m512bh)_mm512_set1_epi32(static_cast<int>(u0[p]));
        const __m512bh y = (__m512bh)_mm512_set1_epi32(static_cast<int>(u1[p]));
        for (int c = 0; c < 4; ++c) {
          const __m512bh dc = (__m512bh)_mm512_loadu_si512(d + 16 * c);
          a[c] = _mm512_dpbf16_ps(a[c], x, dc);
          b[c] = _mm512_dpbf16_ps(b[c], y, dc);
        }
      }
      for (int c = 0; c < 4; ++c) {
        float* w0 = w + i * cols + j0 + 16 * c;
        if (!mask[c]) break;
        _mm512_mask_storeu_ps(w0, mask[c], _mm512_add_ps(_mm512_maskz_loadu_ps(mask[c], w0), a[c]));
        if (two)
          _mm512_mask_storeu_ps(w0 + cols, mask[c],
                                _mm512_add_ps(_mm512_maskz_loadu_ps(mask[c], w0 + cols), b[c]));
      }
    }
  }
}

bool cpu_has_avx512bf16() {
  static const bool has = __builtin_cpu_supports("avx512bf16");
  return has;
}

void add_delta_rows(float* w, int64_t n, int64_t cols, const float* up, int64_t rank, const float* down) {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512)
    add_rows_avx512(w, n, cols, up, rank, down);
  else
    add_rows(w, n, cols, up, rank, down);
}

void to_bf16_portable(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
}

// Round to nearest even as f32_to_bf16 (vcvtne2ps2bf16 flushes denormal inputs, below 1.2e-38, to zero:
// as oneDNN's own float32 -> bf16 reorder does on these CPUs).
__attribute__((target("avx512f,avx512bf16"))) void to_bf16_avx512(const float* src, uint16_t* dst,
                                                                  int64_t n) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
    _mm512_storeu_si512(dst + i, reinterpret_cast<__m512i>(v));
  }
  to_bf16_portable(src + i, dst + i, n - i);
}

void to_bf16(const float* src, uint16_t* dst, int64_t n) {
  static const bool fast = __builtin_cpu_supports("avx512bf16");
  if (fast)
    to_bf16_avx512(src, dst, n);
  else
    to_bf16_portable(src, dst, n);
}

// The weight `blocks` (row blocks of one layer, any float dtype; a conv's [out, in, kh, kw] counts as
// [out, in * kh * kw]) stacked [rows, cols] plus `deltas`, as float32 or (dtype BF16) rounded to bf16, in
// one pass: tiles of rows are converted to float32 and get their deltas while they are in cache, split over
// the OpenMP threads.
Tensor merged_weight(const std::vector<Tensor>& blocks, const Shape& shape, const std::vector<Delta>& deltas,
                     DType dtype) {
  const int64_t cols = blocks[0].numel() / blocks[0].dim(0);
  std::vector<int64_t> starts;  // each block's first row
  int64_t rows = 0;
  for (const Tensor& b : blocks) {
    starts.push_back(rows);
    rows += b.dim(0);
  }
  Tensor out = Tensor::empty(shape, dtype);
  constexpr int64_t kTile = 32;
  const int64_t tiles = (rows + kTile - 1) / kTile;
  const bool bf16 = dtype == DType::BF16;
#pragma omp parallel for schedule(dynamic, 4)
  for (int64_t t = 0; t < tiles; ++t) {
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
      const int64_t d0 = std::max(r0, d.row_begin), d1 = std::min(r1, d.row_begin + d.up_rows);
      if (d0 >= d1) continue;
      if (!d.up_pairs.empty()) {
        add_rows_bf16(row(d0), d1 - d0, cols, d.up_pairs.data() + (d0 - d.row_begin) * d.pairs, d.pairs,
                      d.down_pairs.data(), d.padded_cols);
        continue;
      }
      add_delta_rows(row(d0), d1 - d0, cols, d.up.data() + (d0 - d.row_begin) * d.rank, d.rank,
                     d.down.data());
    }
    if (bf16) to_bf16(tile.data(), out.data<uint16_t>() + r0 * cols, (r1 - r0) * cols);
  }
  return out;
}

}  // namespace

void add_lora_delta(Tensor& weight, const LoraModule& m, float scale) {
  const int64_t out = m.up.dim(0), rank = m.rank(), cols = m.down.numel() / rank;
  if (weight.dtype() != DType::F32 || weight.dim(0) != out || weight.numel() != out * cols)
    throw Error("LoRA " + m.key + ": weight " + shape_str(weight.shape()) + " does not take a delta [" +
                std::to_string(out) + ", " + std::to_string(cols) + "]");
  const Delta d = make_delta(m, scale, 0, out, cols);
  add_delta_rows(weight.data<float>(), out, cols, d.up.data(), d.rank, d.down.data());
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
  // A bf16 layer: the delta is computed from up and down rounded to bf16 (float32 sums; bf16 weights hold
  // 8 bits of mantissa, what the products lose is far below what rounding W + delta to bf16 loses), and
  // the merged weight is rounded to bf16 here (what preparing it from float32 would round to, with half
  // the bytes to write and read again).
  const Precision precision = r.conv ? r.conv->source().precision : r.linear->source().precision;
  const bool bf16 = precision == Precision::BF16 && cpu_has_avx512bf16();
  std::vector<Delta> list;
  for (const auto& [a, scale] : deltas) {
    list.push_back(make_delta(*a.module, scale, blocks_[a.target].row_begin, shape[0], cols));
    if (bf16) pack_bf16(list.back(), cols);
  }
  const Tensor w =
      merged_weight(blocks, shape, list, precision == Precision::BF16 ? DType::BF16 : DType::F32);
  // The source was read whole: its pages of the mapped file go (as after loading, kernels/layers.cpp).
  for (const Tensor& b : blocks) b.release_file_pages();
  if (r.linear)
    *r.linear = r.linear->with_weight(w);
  else
    *r.conv = r.conv->with_weight(w);
}

void LoraLayers::apply(const std::vector<LoraUse>& uses) {
  // Resolve everything first: slot -> (target, module, scale) in order.
  const Deltas deltas = resolve_deltas(uses);
  std::set<size_t> next;
  for (const auto& [slot, list] : deltas) next.insert(slot);
  uses_.clear();
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
      merge(slot, list);
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
  uses_ = uses;
}

void LoraLayers::remerge(LoraComponent component) {
  for (const auto& [slot, list] : resolve_deltas(uses_))
    if (slot_components_[slot] == component) merge(slot, list);
}

}  // namespace i2i
