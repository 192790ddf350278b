#include "models/depth_anything_v2.h"

#include <cmath>
#include <cstring>
#include <utility>

#include "core/error.h"
#include "kernels/interpolate.h"
#include "kernels/ops.h"
#include "models/annotator_conv_layers.h"
#include "models/clip_layer.h"  // split3

namespace i2i {

namespace {

Tensor f32(const Weights& w, const std::string& name, const Shape& shape) {
  const Tensor& t = w.get(name, shape);
  check(dtype_is_float(t.dtype()), w.origin() + ": tensor '" + w.full_name(name) + "' is not floating point");
  return t.to(DType::F32);
}

Conv2d conv(const Weights& w, const std::string& name, int64_t out, int64_t in, int k, int stride, int pad,
            bool bias, Precision precision) {
  const Tensor& weight = w.get(name + ".weight", {out, in, k, k});
  check(dtype_is_float(weight.dtype()),
        w.origin() + ": tensor '" + w.full_name(name + ".weight") + "' is not floating point");
  return Conv2d(weight, bias ? f32(w, name + ".bias", {out}) : Tensor(), stride, pad, precision);
}

// LayerScale and the residual in one pass, in place: o = x + gamma * o (per channel, the last dimension).
// Kept out of the weights: folding gamma into them would make, and keep (Linear::Source), a float32 copy of
// every proj and fc2 weight, 0.5 GB for ViT-L, on every load.
void layer_scale_residual_(Tensor& o, const Tensor& x, const Tensor& gamma) {
  const int64_t c = o.dim(-1), rows = o.numel() / c;
  const float* xs = x.data<float>();
  const float* g = gamma.data<float>();
  float* od = o.data<float>();
#pragma omp parallel for schedule(static) if (rows > 64)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < c; ++i) od[r * c + i] = xs[r * c + i] + od[r * c + i] * g[i];
}

}  // namespace

DepthAnythingV2::DepthAnythingV2(const Weights& w, const DepthAnythingV2Config& config, Precision precision)
    : config_(config), origin_(w.origin()), precision_(precision) {
  const int64_t d = config.embed_dim, p = config.patch_size, g = config.pos_grid, m = config.mlp_hidden;
  const std::string v = "pretrained.";
  patch_embed_ =
      conv(w, v + "patch_embed.proj", d, 3, static_cast<int>(p), static_cast<int>(p), 0, true, precision);
  cls_token_ = f32(w, v + "cls_token", {1, 1, d}).reshape({d});
  pos_embed_ = f32(w, v + "pos_embed", {1, g * g + 1, d}).reshape({g * g + 1, d});
  blocks_.resize(static_cast<size_t>(config.depth));
  for (int i = 0; i < config.depth; ++i) {
    const std::string b = v + "blocks." + std::to_string(i) + ".";
    Block& k = blocks_[static_cast<size_t>(i)];
    k.norm1_w = f32(w, b + "norm1.weight", {d});
    k.norm1_b = f32(w, b + "norm1.bias", {d});
    k.norm2_w = f32(w, b + "norm2.weight", {d});
    k.norm2_b = f32(w, b + "norm2.bias", {d});
    k.qkv = Linear(w.get(b + "attn.qkv.weight", {3 * d, d}), f32(w, b + "attn.qkv.bias", {3 * d}), precision);
    k.proj = Linear(w.get(b + "attn.proj.weight", {d, d}), f32(w, b + "attn.proj.bias", {d}), precision);
    k.ls1 = f32(w, b + "ls1.gamma", {d});
    k.fc1 = Linear(w.get(b + "mlp.fc1.weight", {m, d}), f32(w, b + "mlp.fc1.bias", {m}), precision);
    k.fc2 = Linear(w.get(b + "mlp.fc2.weight", {d, m}), f32(w, b + "mlp.fc2.bias", {d}), precision);
    k.ls2 = f32(w, b + "ls2.gamma", {d});
  }
  norm_w_ = f32(w, v + "norm.weight", {d});
  norm_b_ = f32(w, v + "norm.bias", {d});

  const std::string h = "depth_head.";
  const auto& oc = config.out_channels;
  for (size_t i = 0; i < 4; ++i) {
    const std::string n = h + "projects." + std::to_string(i);
    projects_[i] = Linear(w.get(n + ".weight", {oc[i], d, 1, 1}).reshape({oc[i], d}),
                          f32(w, n + ".bias", {oc[i]}), precision);
  }
  for (size_t i = 0; i < 2; ++i) {
    const int k = i == 0 ? 4 : 2;
    const std::string n = h + "resize_layers." + std::to_string(i);
    const int64_t c = oc[i];
    const Tensor weight = f32(w, n + ".weight", {c, c, k, k});  // ConvTranspose2d: [in, out, kh, kw]
    const Tensor bias = f32(w, n + ".bias", {c});
    Tensor mat = Tensor::empty({k * k * c, c}), b = Tensor::empty({k * k * c});
    const float* wd = weight.data<float>();
    float* md = mat.data<float>();
    for (int dy = 0; dy < k; ++dy)
      for (int dx = 0; dx < k; ++dx)
        for (int64_t o = 0; o < c; ++o) {
          const int64_t row = (dy * k + dx) * c + o;
          b.data<float>()[row] = bias.data<float>()[o];
          for (int64_t in = 0; in < c; ++in) md[row * c + in] = wd[((in * c + o) * k + dy) * k + dx];
        }
    resize_up_[i] = Upsample{Linear(mat, b, precision), k, c};
  }
  resize_down_ = conv(w, h + "resize_layers.3", oc[3], oc[3], 3, 2, 1, true, precision);
  const int64_t f = config.features;
  const std::string s = h + "scratch.";
  for (size_t i = 0; i < 4; ++i)
    layer_rn_[i] = conv(w, s + "layer" + std::to_string(i + 1) + "_rn", f, oc[i], 3, 1, 1, false, precision);
  for (size_t i = 0; i < 4; ++i) {
    const std::string r = s + "refinenet" + std::to_string(i + 1) + ".";
    Fusion& fu = refine_[i];
    fu.rcu1 = Rcu{conv(w, r + "resConfUnit1.conv1", f, f, 3, 1, 1, true, precision),
                  conv(w, r + "resConfUnit1.conv2", f, f, 3, 1, 1, true, precision)};
    fu.rcu2 = Rcu{conv(w, r + "resConfUnit2.conv1", f, f, 3, 1, 1, true, precision),
                  conv(w, r + "resConfUnit2.conv2", f, f, 3, 1, 1, true, precision)};
    fu.out_conv = conv(w, r + "out_conv", f, f, 1, 1, 0, true, precision);
  }
  output_conv1_ = conv(w, s + "output_conv1", f / 2, f, 3, 1, 1, true, precision);
  output_conv2a_ = conv(w, s + "output_conv2.0", config.head_hidden, f / 2, 3, 1, 1, true, precision);
  output_conv2b_ = conv(w, s + "output_conv2.2", 1, config.head_hidden, 1, 1, 0, true, precision);
}

Tensor DepthAnythingV2::position_embedding(int64_t ph, int64_t pw) const {
  const int64_t d = config_.embed_dim, g = config_.pos_grid;
  if (ph * pw == g * g && ph == pw) return pos_embed_.reshape({1, g * g + 1, d});
  // DINOv2 interpolate_pos_encoding: the grid [1, g, g, D] bicubic to (ph, pw) with the scale factors
  // ((ph + offset) / g, (pw + offset) / g), in float32.
  const Tensor grid =
      Tensor::borrow(const_cast<float*>(pos_embed_.data<float>()) + d, {1, g, g, d}, DType::F32, nullptr);
  const double sy = (static_cast<double>(ph) + config_.interpolate_offset) / static_cast<double>(g);
  const double sx = (static_cast<double>(pw) + config_.interpolate_offset) / static_cast<double>(g);
  check(static_cast<int64_t>(std::floor(g * sy)) == ph && static_cast<int64_t>(std::floor(g * sx)) == pw,
        origin_ + ": position grid " + std::to_string(g) + " cannot be interpolated to " +
            std::to_string(ph) + "x" + std::to_string(pw));
  const Tensor moved = ops::interpolate_bicubic(grid, ph, pw, sy, sx);
  Tensor out = Tensor::empty({1, 1 + ph * pw, d});
  std::memcpy(out.data<float>(), pos_embed_.data<float>(), static_cast<size_t>(d) * sizeof(float));
  std::memcpy(out.data<float>() + d, moved.data<float>(), static_cast<size_t>(ph * pw * d) * sizeof(float));
  return out;
}

Tensor DepthAnythingV2::block(const Block& b, const Tensor& x) const {
  const int64_t d = config_.embed_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d / config_.num_heads));
  Tensor h = ops::layer_norm(x, b.norm1_w, b.norm1_b, config_.layer_norm_eps);
  Tensor q, k, v;
  split3(b.qkv(h), q, k, v);
  const Tensor a = ops::attention(q, k, v, config_.num_heads, scale, false, precision_);
  Tensor y = b.proj(a);
  layer_scale_residual_(y, x, b.ls1);
  h = ops::layer_norm(y, b.norm2_w, b.norm2_b, config_.layer_norm_eps);
  Tensor out = b.fc2(b.fc1.forward_gelu(h));
  layer_scale_residual_(out, y, b.ls2);
  return out;
}

Tensor DepthAnythingV2::fusion(const Fusion& f, const Tensor& x0, const Tensor* x1, int64_t out_h,
                               int64_t out_w) const {
  // The ReLUs write the next convolution's input type (bf16 for bf16 layers) in the same pass; the skip
  // adds the un-ReLU'd x, fused into conv2.
  auto rcu = [](const Rcu& r, const Tensor& x) {
    return r.conv2(relu_to(r.conv1(relu_to(x, r.conv1.input_dtype())), r.conv2.input_dtype()), &x);
  };
  Tensor out = x1 ? ops::add(x0, rcu(f.rcu1, *x1)) : x0;
  out = rcu(f.rcu2, out);
  return f.out_conv(ops::interpolate_bilinear(out, out_h, out_w, true, f.out_conv.input_dtype()));
}

Tensor DepthAnythingV2::forward(const Tensor& x, DepthAnythingV2Trace* trace) const {
  check(defined(), "Depth Anything V2 used before it was loaded");
  const int64_t p = config_.patch_size, d = config_.embed_dim;
  check(x.dtype() == DType::F32 && x.ndim() == 4 && x.dim(0) == 1 && x.dim(3) == 3 && x.dim(1) >= p &&
            x.dim(2) >= p && x.dim(1) % p == 0 && x.dim(2) % p == 0,
        "Depth Anything V2 (" + origin_ + "): input must be float32 [1, H, W, 3] with H and W multiples of " +
            std::to_string(p) + ", got " + shape_str(x.shape()));
  const int64_t ph = x.dim(1) / p, pw = x.dim(2) / p, n = ph * pw;
  const Tensor patches = patch_embed_(x).reshape({1, n, d});
  const Tensor pos = position_embedding(ph, pw);
  Tensor t = Tensor::empty({1, n + 1, d});
  {
    float* dst = t.data<float>();
    const float* ps = pos.data<float>();
    const float* cls = cls_token_.data<float>();
    const float* src = patches.data<float>();
    for (int64_t c = 0; c < d; ++c) dst[c] = cls[c] + ps[c];
    for (int64_t i = d; i < (n + 1) * d; ++i) dst[i] = src[i - d] + ps[i];
  }
  if (trace) {
    trace->patch_embed = patches;
    trace->pos_embed = pos;
    trace->intermediate.clear();
  }

  std::array<Tensor, 4> taken;
  size_t next = 0;
  const int last = config_.intermediate_layers[3];
  for (int i = 0; i <= last; ++i) {
    t = block(blocks_[static_cast<size_t>(i)], t);
    if (next < 4 && i == config_.intermediate_layers[next]) {
      taken[next] = ops::layer_norm(t, norm_w_, norm_b_, config_.layer_norm_eps);
      if (trace) trace->intermediate.push_back(taken[next]);
      ++next;
    }
  }

  std::array<Tensor, 4> rn;
  for (size_t i = 0; i < 4; ++i) {
    // Tokens without the class token as a [1, ph, pw, D] map, then projects[i] (1x1).
    const Tensor map =
        Tensor::borrow(const_cast<float*>(taken[i].data<float>()) + d, {1, ph, pw, d}, DType::F32, nullptr);
    Tensor y = projects_[i](map);
    if (i < 2) {
      const Upsample& u = resize_up_[i];
      const Tensor z = u.linear(y);  // [1, ph, pw, k * k * C]
      const int64_t k = u.factor, c = u.out_channels;
      y = Tensor::empty({1, ph * k, pw * k, c});
      const float* zs = z.data<float>();
      float* yd = y.data<float>();
      for (int64_t yy = 0; yy < ph; ++yy)
        for (int64_t xx = 0; xx < pw; ++xx)
          for (int64_t dy = 0; dy < k; ++dy)
            for (int64_t dx = 0; dx < k; ++dx)
              std::memcpy(yd + (((yy * k + dy) * pw * k) + xx * k + dx) * c,
                          zs + ((yy * pw + xx) * k * k + dy * k + dx) * c,
                          static_cast<size_t>(c) * sizeof(float));
    } else if (i == 3) {
      y = resize_down_(y);
    }
    if (trace) trace->layers[i] = y;
    rn[i] = layer_rn_[i](y);
  }
  const Tensor path4 = fusion(refine_[3], rn[3], nullptr, rn[2].dim(1), rn[2].dim(2));
  const Tensor path3 = fusion(refine_[2], path4, &rn[2], rn[1].dim(1), rn[1].dim(2));
  const Tensor path2 = fusion(refine_[1], path3, &rn[1], rn[0].dim(1), rn[0].dim(2));
  const Tensor path1 = fusion(refine_[0], path2, &rn[0], rn[0].dim(1) * 2, rn[0].dim(2) * 2);
  if (trace) trace->paths = {path4, path3, path2};
  Tensor out =
      ops::interpolate_bilinear(output_conv1_(path1), ph * p, pw * p, true, output_conv2a_.input_dtype());
  out = output_conv2b_(relu_to(output_conv2a_(out), output_conv2b_.input_dtype()));
  relu_(out);  // (the final F.relu of DepthAnythingV2.forward changes nothing more)
  return out.reshape({ph * p, pw * p});
}

}  // namespace i2i
