// Argument checking and dispatch of the ops.h functions to the backend of their inputs' device.
#include "kernels/ops.h"

#include <string>

#include "core/error.h"
#include "kernels/backend.h"

namespace i2i::ops {
namespace {

void need_f32(const Tensor& t, const char* op, const char* what) {
  check(t.defined(), std::string(op) + ": " + what + " is undefined");
  check(t.dtype() == DType::F32, std::string(op) + ": " + what + " must be float32, got " +
                                     std::string(dtype_name(t.dtype())) + " " + shape_str(t.shape()));
}

void need_same_device(const Tensor& a, const Tensor& b, const char* op) {
  check(a.device() == b.device(), std::string(op) + ": inputs are on different devices");
}

// Per-channel parameters (gamma, beta) may come straight from a checkpoint in F16/BF16.
Tensor channel_param(const Tensor& p, int64_t c, const char* op, const char* what) {
  check(p.defined() && p.numel() == c && p.ndim() == 1, std::string(op) + ": " + what + " has shape " +
                                                            shape_str(p.shape()) + ", expected [" +
                                                            std::to_string(c) + "]");
  check(dtype_is_float(p.dtype()), std::string(op) + ": " + what + " must be a float tensor");
  return p.to(DType::F32);
}

}  // namespace

Tensor group_norm(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps, bool silu,
                  DType out) {
  check(out == DType::F32 || out == DType::BF16, "group_norm: output must be float32 or bf16");
  need_f32(x, "group_norm", "input");
  check(x.ndim() >= 2, "group_norm: input must be [N, ..., C], got " + shape_str(x.shape()));
  int64_t c = x.dim(-1);
  check(groups > 0 && c % groups == 0, "group_norm: " + std::to_string(c) +
                                           " channels cannot be split into " + std::to_string(groups) +
                                           " groups");
  Tensor g = channel_param(gamma, c, "group_norm", "gamma");
  Tensor b = channel_param(beta, c, "group_norm", "beta");
  return backend_of(x).group_norm(x, groups, g, b, eps, silu, out);
}

Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) {
  need_f32(x, "layer_norm", "input");
  check(x.ndim() >= 1, "layer_norm: input must have at least one dimension");
  int64_t c = x.dim(-1);
  Tensor g = channel_param(gamma, c, "layer_norm", "gamma");
  Tensor b = channel_param(beta, c, "layer_norm", "beta");
  return backend_of(x).layer_norm(x, g, b, eps);
}

Tensor silu(const Tensor& x) {
  need_f32(x, "silu", "input");
  return backend_of(x).silu(x);
}
Tensor gelu(const Tensor& x) {
  need_f32(x, "gelu", "input");
  return backend_of(x).gelu(x);
}
Tensor gelu_tanh(const Tensor& x) {
  need_f32(x, "gelu_tanh", "input");
  return backend_of(x).gelu_tanh(x);
}
Tensor quick_gelu(const Tensor& x) {
  need_f32(x, "quick_gelu", "input");
  return backend_of(x).quick_gelu(x);
}
Tensor geglu(const Tensor& x) {
  need_f32(x, "geglu", "input");
  check(x.ndim() >= 1 && x.dim(-1) % 2 == 0,
        "geglu: last dimension must be even (value and gate halves), got " + shape_str(x.shape()));
  return backend_of(x).geglu(x);
}

Tensor softmax(const Tensor& x) {
  need_f32(x, "softmax", "input");
  check(x.ndim() >= 1, "softmax: input must have at least one dimension");
  return backend_of(x).softmax(x);
}

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, float scale, bool causal,
                 Precision precision) {
  need_f32(q, "attention", "q");
  need_f32(k, "attention", "k");
  need_f32(v, "attention", "v");
  need_same_device(q, k, "attention");
  need_same_device(q, v, "attention");
  std::string shapes = " (q " + shape_str(q.shape()) + ", k " + shape_str(k.shape()) + ", v " +
                       shape_str(v.shape()) + ", heads " + std::to_string(heads) + ")";
  check(q.ndim() == 3 && k.ndim() == 3 && v.ndim() == 3, "attention: q, k, v must be [B, T, C]" + shapes);
  check(heads > 0, "attention: heads must be positive" + shapes);
  check(q.dim(0) == k.dim(0) && q.dim(0) == v.dim(0), "attention: batch sizes differ" + shapes);
  check(k.dim(1) == v.dim(1), "attention: k and v have different lengths" + shapes);
  check(q.dim(2) == k.dim(2), "attention: q and k have different widths" + shapes);
  check(q.dim(2) % heads == 0 && v.dim(2) % heads == 0 && q.dim(2) > 0 && v.dim(2) > 0,
        "attention: widths are not divisible by the number of heads" + shapes);
  check(k.dim(1) > 0 || q.dim(1) == 0, "attention: no keys" + shapes);
  return backend_of(q).attention(q, k, v, heads, scale, causal, precision);
}

Tensor upsample_nearest2x(const Tensor& x) {
  need_f32(x, "upsample_nearest2x", "input");
  check(x.ndim() == 4, "upsample_nearest2x: input must be [N, H, W, C], got " + shape_str(x.shape()));
  return backend_of(x).upsample_nearest2x(x);
}

Tensor concat_channels(const Tensor& a, const Tensor& b) {
  need_f32(a, "concat_channels", "first input");
  need_f32(b, "concat_channels", "second input");
  need_same_device(a, b, "concat_channels");
  bool ok = a.ndim() >= 1 && a.ndim() == b.ndim();
  for (int64_t i = 0; ok && i + 1 < a.ndim(); ++i) ok = a.dim(i) == b.dim(i);
  check(ok, "concat_channels: leading dimensions differ: " + shape_str(a.shape()) + " and " +
                shape_str(b.shape()));
  return backend_of(a).concat_channels(a, b);
}

Tensor add(const Tensor& a, const Tensor& b) {
  need_f32(a, "add", "first input");
  need_f32(b, "add", "second input");
  need_same_device(a, b, "add");
  check(a.shape() == b.shape(),
        "add: shapes differ: " + shape_str(a.shape()) + " and " + shape_str(b.shape()));
  return backend_of(a).add(a, b);
}

void add_(Tensor& a, const Tensor& b) {
  need_f32(a, "add_", "first input");
  need_f32(b, "add_", "second input");
  need_same_device(a, b, "add_");
  check(a.shape() == b.shape(),
        "add_: shapes differ: " + shape_str(a.shape()) + " and " + shape_str(b.shape()));
  backend_of(a).add_(a, b);
}

Tensor scale(const Tensor& x, float s) {
  need_f32(x, "scale", "input");
  return backend_of(x).scale(x, s);
}

void scale_(Tensor& x, float s) {
  need_f32(x, "scale_", "input");
  backend_of(x).scale_(x, s);
}

void add_channel_bias_(Tensor& x, const Tensor& bias) {
  need_f32(x, "add_channel_bias_", "input");
  check(x.ndim() >= 2, "add_channel_bias_: input must be [N, ..., C], got " + shape_str(x.shape()));
  check(bias.ndim() == 2 && bias.dim(0) == x.dim(0) && bias.dim(1) == x.dim(-1),
        "add_channel_bias_: bias " + shape_str(bias.shape()) + " does not match input " +
            shape_str(x.shape()) + " (expected [N, C])");
  Tensor b = bias;
  if (b.dtype() != DType::F32) {
    check(dtype_is_float(b.dtype()), "add_channel_bias_: bias must be a float tensor");
    b = b.to(DType::F32);
  }
  need_same_device(x, b, "add_channel_bias_");
  backend_of(x).add_channel_bias_(x, b);
}

}  // namespace i2i::ops
