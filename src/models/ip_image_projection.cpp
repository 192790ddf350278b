#include "models/ip_image_projection.h"

#include <cstring>

#include "core/error.h"
#include "kernels/ops.h"

namespace i2i {

namespace {

constexpr float kEps = 1e-5f;
constexpr int64_t kHeadDim = 64;

const Tensor& shaped(const Weights& w, const std::string& name, int64_t rank, const char* layout) {
  const Tensor& t = w.get(name);
  check(t.ndim() == rank && dtype_is_float(t.dtype()),
        w.origin() + ": tensor '" + w.full_name(name) + "' is " + std::string(dtype_name(t.dtype())) + " " +
            shape_str(t.shape()) + ", expected a float tensor " + layout);
  return t;
}

Tensor f32(const Weights& w, const std::string& name, const Shape& shape) {
  const Tensor& t = w.get(name, shape);
  check(dtype_is_float(t.dtype()), w.origin() + ": tensor '" + w.full_name(name) + "' is not floating point");
  return t.to(DType::F32);
}

Linear linear(const Weights& w, const std::string& name, int64_t out, int64_t in, bool bias, Precision p) {
  return Linear(w.get(name + ".weight", {out, in}), bias ? w.get(name + ".bias", {out}) : Tensor(), p);
}

// [B, Ta, C] and [B, Tb, C] -> [B, Ta + Tb, C].
Tensor concat_tokens(const Tensor& a, const Tensor& b) {
  const int64_t n = a.dim(0), ta = a.dim(1), tb = b.dim(1), c = a.dim(2);
  Tensor out = Tensor::empty({n, ta + tb, c});
  const size_t sa = static_cast<size_t>(ta * c), sb = static_cast<size_t>(tb * c);
  for (int64_t i = 0; i < n; ++i) {
    float* dst = out.data<float>() + i * (ta + tb) * c;
    std::memcpy(dst, a.data<float>() + i * sa, sa * sizeof(float));
    std::memcpy(dst + sa, b.data<float>() + i * sb, sb * sizeof(float));
  }
  return out;
}

std::string image_proj_keys(const Weights& w) {
  std::string keys;
  int shown = 0;
  for (const auto& [name, t] : w.all()) {
    if (name.compare(0, 11, "image_proj.") != 0) continue;
    if (shown++ == 4) {
      keys += ", ...";
      break;
    }
    keys += (keys.empty() ? "" : ", ") + name;
  }
  return keys.empty() ? "none" : keys;
}

}  // namespace

const char* ip_adapter_variant_name(IpAdapterVariant v) {
  return v == IpAdapterVariant::Plus ? "plus" : "base";
}

IpImageProjection::IpImageProjection(const Weights& all, Precision precision) : origin_(all.origin()) {
  const Weights w = all.sub("image_proj.");
  if (w.has("latents")) {
    info_.variant = IpAdapterVariant::Plus;
    const Tensor& lat = shaped(w, "latents", 3, "[1, queries, width]");
    check(lat.dim(0) == 1 && lat.dim(1) > 0 && lat.dim(2) > 0,
          origin_ + ": tensor '" + w.full_name("latents") + "' has shape " + shape_str(lat.shape()) +
              ", expected [1, queries, width]");
    const int64_t n = lat.dim(1), width = lat.dim(2);
    const int64_t e = shaped(w, "proj_in.weight", 2, "[width, encoder width]").dim(1);
    const int64_t d = shaped(w, "proj_out.weight", 2, "[cross-attention dim, width]").dim(0);
    latents_ = lat.reshape({n, width}).to(DType::F32);
    proj_in_ = linear(w, "proj_in", width, e, true, precision);
    proj_out_ = linear(w, "proj_out", d, width, true, precision);
    norm_out_w_ = f32(w, "norm_out.weight", {d});
    norm_out_b_ = f32(w, "norm_out.bias", {d});
    int depth = 0;
    while (w.has("layers." + std::to_string(depth) + ".0.to_q.weight")) ++depth;
    check(depth > 0, origin_ + ": no tensor '" + w.full_name("layers.0.0.to_q.weight") + "'");
    const int64_t inner = shaped(w, "layers.0.0.to_q.weight", 2, "[heads * 64, width]").dim(0);
    check(inner > 0 && inner % kHeadDim == 0, origin_ + ": tensor '" + w.full_name("layers.0.0.to_q.weight") +
                                                  "' has " + std::to_string(inner) +
                                                  " rows, expected a multiple of the head size 64");
    const int64_t ff = shaped(w, "layers.0.1.1.weight", 2, "[feed-forward width, width]").dim(0);
    for (int i = 0; i < depth; ++i) {
      const std::string p = "layers." + std::to_string(i) + ".";
      ResamplerLayer l;
      l.norm1_w = f32(w, p + "0.norm1.weight", {width});
      l.norm1_b = f32(w, p + "0.norm1.bias", {width});
      l.norm2_w = f32(w, p + "0.norm2.weight", {width});
      l.norm2_b = f32(w, p + "0.norm2.bias", {width});
      l.to_q = linear(w, p + "0.to_q", inner, width, false, precision);
      // to_kv: the key rows first, then the value rows (diffusers splits it into to_k / to_v).
      const Tensor& kv = w.get(p + "0.to_kv.weight", {2 * inner, width});
      l.to_k = Linear(kv.slice0(0, inner), Tensor(), precision);
      l.to_v = Linear(kv.slice0(inner, 2 * inner), Tensor(), precision);
      l.to_out = linear(w, p + "0.to_out", width, inner, false, precision);
      l.ff_norm_w = f32(w, p + "1.0.weight", {width});
      l.ff_norm_b = f32(w, p + "1.0.bias", {width});
      l.fc1 = linear(w, p + "1.1", ff, width, false, precision);
      l.fc2 = linear(w, p + "1.3", width, ff, false, precision);
      layers_.push_back(std::move(l));
    }
    info_.cross_attention_dim = d;
    info_.num_tokens = n;
    info_.encoder_width = e;
    info_.resampler_width = width;
    info_.heads = static_cast<int>(inner / kHeadDim);
    info_.depth = depth;
    return;
  }
  if (w.has("proj.weight") && w.has("norm.weight")) {
    info_.variant = IpAdapterVariant::Base;
    const Tensor& pw = shaped(w, "proj.weight", 2, "[tokens * cross-attention dim, embeds]");
    const int64_t d = shaped(w, "norm.weight", 1, "[cross-attention dim]").dim(0);
    check(d > 0 && pw.dim(0) > 0 && pw.dim(0) % d == 0,
          origin_ + ": tensor '" + w.full_name("proj.weight") + "' has shape " + shape_str(pw.shape()) +
              ", expected [tokens * " + std::to_string(d) + ", embeds] (the width of '" +
              w.full_name("norm.weight") + "')");
    const int64_t e = pw.dim(1);
    proj_ = linear(w, "proj", pw.dim(0), e, true, precision);
    norm_w_ = f32(w, "norm.weight", {d});
    norm_b_ = f32(w, "norm.bias", {d});
    info_.cross_attention_dim = d;
    info_.num_tokens = pw.dim(0) / d;
    info_.encoder_width = e;
    return;
  }
  throw Error(
      origin_ +
      ": not an IP-Adapter base or plus image projection (image_proj tensors: " + image_proj_keys(all) +
      "; base has image_proj.proj / image_proj.norm, plus has image_proj.latents; FaceID and full-face "
      "adapters are not supported)");
}

Tensor IpImageProjection::base_forward(const Tensor& embeds) const {
  const int64_t e = info_.encoder_width;
  check(embeds.dtype() == DType::F32 && embeds.numel() > 0 &&
            ((embeds.ndim() == 2 && embeds.dim(1) == e) ||
             (embeds.ndim() == 3 && embeds.dim(1) == 1 && embeds.dim(2) == e)),
        "IP-Adapter image projection (" + origin_ + "): expected float32 image embeds [batch, " +
            std::to_string(e) + "], got " + std::string(dtype_name(embeds.dtype())) + " " +
            shape_str(embeds.shape()));
  const int64_t b = embeds.dim(0);
  Tensor t = proj_(embeds.reshape({b, e})).reshape({b, info_.num_tokens, info_.cross_attention_dim});
  return ops::layer_norm(t, norm_w_, norm_b_, kEps);
}

Tensor IpImageProjection::plus_forward(const Tensor& features, ResamplerTrace* trace) const {
  const int64_t e = info_.encoder_width, w = info_.resampler_width, n = info_.num_tokens;
  check(features.dtype() == DType::F32 && features.ndim() == 3 && features.dim(0) > 0 &&
            features.dim(1) > 0 && features.dim(2) == e,
        "IP-Adapter image projection (" + origin_ +
            "): expected float32 encoder hidden states [batch, tokens, " + std::to_string(e) + "], got " +
            std::string(dtype_name(features.dtype())) + " " + shape_str(features.shape()));
  const int64_t b = features.dim(0);
  const Tensor x = proj_in_(features);
  if (trace != nullptr) *trace = ResamplerTrace{x, {}, {}};
  Tensor lat = Tensor::empty({b, n, w});
  for (int64_t i = 0; i < b; ++i)
    std::memcpy(lat.data<float>() + i * n * w, latents_.data<float>(),
                static_cast<size_t>(n * w) * sizeof(float));
  const float scale = 1.0f / 8.0f;  // 64^-0.5
  for (const ResamplerLayer& l : layers_) {
    const Tensor xn = ops::layer_norm(x, l.norm1_w, l.norm1_b, kEps);
    const Tensor ln = ops::layer_norm(lat, l.norm2_w, l.norm2_b, kEps);
    const Tensor kv_in = concat_tokens(xn, ln);
    const Tensor a = ops::attention(l.to_q(ln), l.to_k(kv_in), l.to_v(kv_in), info_.heads, scale);
    lat = l.to_out(a, &lat);
    if (trace != nullptr) trace->after_attn.push_back(lat);
    const Tensor h = ops::gelu(l.fc1(ops::layer_norm(lat, l.ff_norm_w, l.ff_norm_b, kEps)));
    lat = l.fc2(h, &lat);
    if (trace != nullptr) trace->after_ff.push_back(lat);
  }
  return ops::layer_norm(proj_out_(lat), norm_out_w_, norm_out_b_, kEps);
}

Tensor IpImageProjection::operator()(const Tensor& embeds, ResamplerTrace* trace) const {
  check(defined(), "IP-Adapter image projection used before it was loaded");
  return info_.variant == IpAdapterVariant::Plus ? plus_forward(embeds, trace) : base_forward(embeds);
}

void IpImageProjection::check_encoder(const ClipVisionConfig& encoder,
                                      const std::string& encoder_origin) const {
  const int64_t e = info_.encoder_width;
  if (info_.variant == IpAdapterVariant::Plus) {
    check(encoder.hidden_size == e,
          origin_ + ": the plus image projection takes image encoder hidden states of width " +
              std::to_string(e) + ", but the image encoder " + encoder_origin + " has hidden size " +
              std::to_string(encoder.hidden_size));
    check(encoder.num_layers >= 1, origin_ + ": the image encoder " + encoder_origin + " has no layers");
  } else {
    check(encoder.projection_dim > 0, origin_ + ": the base image projection takes image embeds of width " +
                                          std::to_string(e) + ", but the image encoder " + encoder_origin +
                                          " has no visual projection");
    check(encoder.projection_dim == e, origin_ + ": the base image projection takes image embeds of width " +
                                           std::to_string(e) + ", but the image encoder " + encoder_origin +
                                           " projects to " + std::to_string(encoder.projection_dim));
  }
}

IpImageProjection load_ip_image_projection(const SafeTensors& file, Precision precision) {
  Weights w(file.path().string());
  for (const std::string& name : file.names())
    if (name.compare(0, 11, "image_proj.") == 0) w.add(name, file.get(name));
  return IpImageProjection(w, precision);
}

IpImageProjection load_ip_image_projection(const std::filesystem::path& adapter_file, Precision precision) {
  return load_ip_image_projection(SafeTensors::open(adapter_file), precision);
}

}  // namespace i2i
