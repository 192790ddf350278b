#include "models/openpose_body_model.h"

#include <algorithm>
#include <string>

#include "core/error.h"
#include "kernels/ops.h"

namespace i2i {

namespace {

// The front's layers in order; "pool" marks a 2x2 max-pool.
const std::vector<std::string>& front_names() {
  static const std::vector<std::string> names = {
      "conv1_1", "conv1_2", "pool", "conv2_1", "conv2_2", "pool",        "conv3_1",    "conv3_2",
      "conv3_3", "conv3_4", "pool", "conv4_1", "conv4_2", "conv4_3_CPM", "conv4_4_CPM"};
  return names;
}

std::vector<std::string> branch_names(int stage, int branch) {
  const std::string b = "_L" + std::to_string(branch);
  if (stage == 1)
    return {"conv5_1_CPM" + b, "conv5_2_CPM" + b, "conv5_3_CPM" + b, "conv5_4_CPM" + b, "conv5_5_CPM" + b};
  std::vector<std::string> names;
  for (int i = 1; i <= 7; ++i)
    names.push_back("Mconv" + std::to_string(i) + "_stage" + std::to_string(stage) + b);
  return names;
}

int kernel_of(int stage, size_t index) {
  if (stage == 1) return index < 3 ? 3 : 1;
  return index < 5 ? 7 : 1;
}

// Output channels of `<name>.weight`, checking in-channels and the kernel size.
int64_t conv_out(const Weights& w, const std::string& name, int64_t in, int k) {
  const Tensor& t = w.get(name + ".weight");
  if (t.ndim() != 4 || t.dim(1) != in || t.dim(2) != k || t.dim(3) != k || t.dim(0) < 1)
    throw Error(w.origin() + ": tensor '" + w.full_name(name + ".weight") + "' has shape " +
                shape_str(t.shape()) + ", expected [out, " + std::to_string(in) + ", " + std::to_string(k) +
                ", " + std::to_string(k) + "]");
  return t.dim(0);
}

void relu_(Tensor& x) {
  float* p = x.data<float>();
  const int64_t n = x.numel();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) p[i] = std::max(p[i], 0.f);
}

// 2x2 max-pool, stride 2, no padding (floor), on [N, H, W, C].
Tensor max_pool2x2(const Tensor& x) {
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3), ho = h / 2, wo = w / 2;
  Tensor out = Tensor::empty({n, ho, wo, c});
  const float* src = x.data<float>();
  float* dst = out.data<float>();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < n; ++b)
    for (int64_t y = 0; y < ho; ++y)
      for (int64_t xx = 0; xx < wo; ++xx) {
        const float* p00 = src + ((b * h + 2 * y) * w + 2 * xx) * c;
        const float* p01 = p00 + c;
        const float* p10 = p00 + w * c;
        const float* p11 = p10 + c;
        float* d = dst + ((b * ho + y) * wo + xx) * c;
        for (int64_t k = 0; k < c; ++k) d[k] = std::max(std::max(p00[k], p01[k]), std::max(p10[k], p11[k]));
      }
  return out;
}

}  // namespace

std::vector<std::pair<std::string, Shape>> openpose_body_layout(const OpenposeBodyConfig& c) {
  std::vector<std::pair<std::string, Shape>> out;
  auto conv = [&](const std::string& name, int64_t in, int64_t o, int64_t k) {
    out.push_back({name + ".weight", {o, in, k, k}});
    out.push_back({name + ".bias", {o}});
  };
  const int64_t front_out[] = {c.vgg1, c.vgg1, c.vgg2, c.vgg2, c.vgg3, c.vgg3,
                               c.vgg3, c.vgg3, c.vgg4, c.vgg4, c.cpm3, c.cpm};
  int64_t in = 3;
  size_t i = 0;
  for (const std::string& name : front_names()) {
    if (name == "pool") continue;
    conv(name, in, front_out[i], 3);
    in = front_out[i++];
  }
  for (int stage = 1; stage <= OpenposeBodyConfig::kStages; ++stage)
    for (int branch = 1; branch <= 2; ++branch) {
      const std::vector<std::string> names = branch_names(stage, branch);
      int64_t x = stage == 1 ? c.cpm : OpenposeBodyConfig::kPafs + OpenposeBodyConfig::kHeatmaps + c.cpm;
      for (size_t l = 0; l < names.size(); ++l) {
        int64_t o = stage == 1 ? (l == 3 ? c.stage1_wide : c.stage1_hidden) : c.stage_hidden;
        if (l + 1 == names.size())
          o = branch == 1 ? OpenposeBodyConfig::kPafs : OpenposeBodyConfig::kHeatmaps;
        conv(names[l], x, o, kernel_of(stage, l));
        x = o;
      }
    }
  return out;
}

int64_t OpenposeBodyConfig::parameter_count() const {
  int64_t n = 0;
  for (const auto& [name, shape] : openpose_body_layout(*this)) n += shape_numel(shape);
  return n;
}

double openpose_body_flops(const OpenposeBodyConfig& c, int64_t height, int64_t width) {
  double flops = 0;
  int64_t h = height, w = width;
  size_t conv_index = 0;
  const auto layout = openpose_body_layout(c);
  for (const std::string& name : front_names()) {
    if (name == "pool") {
      h /= 2, w /= 2;
      continue;
    }
    const Shape& s = layout[2 * conv_index++].second;
    flops += 2.0 * h * w * s[0] * s[1] * s[2] * s[3];
  }
  for (size_t k = 2 * conv_index; k < layout.size(); k += 2) {
    const Shape& s = layout[k].second;
    flops += 2.0 * h * w * s[0] * s[1] * s[2] * s[3];
  }
  return flops;
}

OpenposeBodyConfig openpose_body_config(const Weights& w) {
  OpenposeBodyConfig c;
  std::vector<std::string> convs;
  std::vector<int64_t> widths;
  int64_t in = 3;
  for (const std::string& name : front_names()) {
    if (name == "pool") continue;
    in = conv_out(w, name, in, 3);
    convs.push_back(name);
    widths.push_back(in);
  }
  // conv1_1, conv1_2 | conv2_1, conv2_2 | conv3_1..4 | conv4_1, conv4_2 | conv4_3_CPM, conv4_4_CPM
  c.vgg1 = widths[0], c.vgg2 = widths[2], c.vgg3 = widths[4], c.vgg4 = widths[8];
  c.cpm3 = widths[10], c.cpm = widths[11];
  const int64_t want_front[] = {c.vgg1, c.vgg1, c.vgg2, c.vgg2, c.vgg3, c.vgg3,
                                c.vgg3, c.vgg3, c.vgg4, c.vgg4, c.cpm3, c.cpm};
  for (size_t i = 0; i < widths.size(); ++i)
    if (widths[i] != want_front[i])
      throw Error(w.origin() + ": tensor '" + w.full_name(convs[i] + ".weight") + "' has " +
                  std::to_string(widths[i]) + " output channels, expected " + std::to_string(want_front[i]));
  const int64_t stage_in = OpenposeBodyConfig::kPafs + OpenposeBodyConfig::kHeatmaps + c.cpm;
  for (int branch = 1; branch <= 2; ++branch) {
    const int64_t final_out = branch == 1 ? OpenposeBodyConfig::kPafs : OpenposeBodyConfig::kHeatmaps;
    for (int stage = 1; stage <= OpenposeBodyConfig::kStages; ++stage) {
      const std::vector<std::string> names = branch_names(stage, branch);
      int64_t x = stage == 1 ? c.cpm : stage_in;
      for (size_t i = 0; i < names.size(); ++i) {
        x = conv_out(w, names[i], x, kernel_of(stage, i));
        int64_t want = -1;
        if (i + 1 == names.size()) {
          want = final_out;
        } else if (stage == 1) {
          if (branch == 1 && i == 0) c.stage1_hidden = x;
          if (branch == 1 && i == 3) c.stage1_wide = x;
          want = i == 3 ? c.stage1_wide : c.stage1_hidden;
        } else {
          if (branch == 1 && stage == 2 && i == 0) c.stage_hidden = x;
          want = c.stage_hidden;
        }
        if (x != want)
          throw Error(w.origin() + ": tensor '" + w.full_name(names[i] + ".weight") + "' has " +
                      std::to_string(x) + " output channels, expected " + std::to_string(want));
      }
    }
  }
  return c;
}

OpenposeBody::OpenposeBody(const Weights& w, Precision precision) : config_(openpose_body_config(w)) {
  auto load = [&](const std::string& name, int k) {
    const Tensor& weight = w.get(name + ".weight");
    const int64_t out = weight.dim(0);
    return Conv2d(weight, w.get(name + ".bias", {out}), 1, k / 2, precision);
  };
  for (const std::string& name : front_names())
    if (name != "pool") front_.push_back({load(name, 3), true});
  for (int stage = 1; stage <= OpenposeBodyConfig::kStages; ++stage) {
    for (int branch = 1; branch <= 2; ++branch) {
      const std::vector<std::string> names = branch_names(stage, branch);
      Branch layers;
      for (size_t i = 0; i < names.size(); ++i) {
        const bool last = i + 1 == names.size();
        // Upstream's no_relu_layers: every branch output but Mconv7_stage6_L2.
        const bool relu = !last || (branch == 2 && stage == OpenposeBodyConfig::kStages);
        layers.push_back({load(names[i], kernel_of(stage, i)), relu});
      }
      (branch == 1 ? paf_stages_ : heat_stages_).push_back(std::move(layers));
    }
  }
}

OpenposeBody::Output OpenposeBody::operator()(const Tensor& x) const {
  check(x.ndim() == 4 && x.dim(3) == 3 && x.dtype() == DType::F32,
        "openpose: expected a float32 [N, H, W, 3] input, got " + shape_str(x.shape()));
  check(x.dim(1) % 8 == 0 && x.dim(2) % 8 == 0 && x.dim(1) > 0 && x.dim(2) > 0,
        "openpose: input height and width must be positive multiples of 8, got " + shape_str(x.shape()));
  auto run = [](const Branch& layers, Tensor h) {
    for (const Layer& l : layers) {
      h = l.conv(h);
      if (l.relu) relu_(h);
    }
    return h;
  };
  Tensor h = x;
  size_t i = 0;
  for (const std::string& name : front_names()) {
    if (name == "pool") {
      h = max_pool2x2(h);
      continue;
    }
    h = front_[i].conv(h);
    relu_(h);
    ++i;
  }
  const Tensor features = h;
  Output out;
  for (size_t stage = 0; stage < paf_stages_.size(); ++stage) {
    const Tensor in =
        stage == 0 ? features : ops::concat_channels(ops::concat_channels(out.paf, out.heatmap), features);
    Tensor paf = run(paf_stages_[stage], in);
    Tensor heat = run(heat_stages_[stage], in);
    out.paf = std::move(paf);
    out.heatmap = std::move(heat);
  }
  return out;
}

}  // namespace i2i
