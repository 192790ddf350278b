// The compute backend interface: one implementation per device (CPU today, CUDA later). The free
// functions in ops.h and the Linear / Conv2d layers validate their arguments and then dispatch to the
// backend of their input's device, so model code never names a backend. Backends may assume valid,
// contiguous float32 inputs of consistent shapes (the dispatch layer checks them).
#pragma once

#include <memory>

#include "core/tensor.h"
#include "kernels/conv2d.h"
#include "kernels/linear.h"
#include "kernels/precision.h"

namespace i2i {

// A prepared Linear layer (weights already in the backend's preferred layout).
struct Linear::Impl {
  virtual ~Impl() = default;
  // x: [M, in] float32 (leading dimensions already folded into M), residual null or [M, out].
  virtual Tensor forward(const Tensor& x, const Tensor* residual) const = 0;
  // gelu(x W^T + bias), exact (erf) GELU; x: [M, in] float32.
  virtual Tensor forward_gelu(const Tensor& x) const = 0;
  // out += x W^T (+ bias) in place; out: [M, out] float32.
  virtual void forward_add(const Tensor& x, Tensor& out) const = 0;
};

// A prepared Conv2d layer.
struct Conv2d::Impl {
  virtual ~Impl() = default;
  // x: [N, H, W, in] float32, residual null or the output's shape. Returns [N, H', W', out].
  virtual Tensor forward(const Tensor& x, const Tensor* residual) const = 0;
  // The input type the layer computes in (BF16 for native bf16 layers, else F32); forward accepts
  // either type.
  virtual DType input_dtype() const = 0;
  // forward(upsample_nearest2x(x), nullptr) without materialising the float32 upsampled input.
  virtual Tensor forward_upsampled2x(const Tensor& x) const = 0;
  // Output spatial size for an input of size h x w (<= 0 when the input is too small).
  virtual int64_t out_h(int64_t h) const = 0;
  virtual int64_t out_w(int64_t w) const = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  // Layers (weights: any float dtype, in PyTorch layout; see linear.h / conv2d.h).
  virtual std::shared_ptr<const Linear::Impl> make_linear(const Tensor& weight, const Tensor& bias,
                                                          Precision precision) = 0;
  virtual std::shared_ptr<const Conv2d::Impl> make_conv2d(const Tensor& weight, const Tensor& bias,
                                                          int stride, Padding padding,
                                                          Precision precision) = 0;

  // The operations of ops.h (same semantics; gamma/beta/bias already float32).
  virtual Tensor group_norm(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps,
                            bool silu, DType out) = 0;
  virtual Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) = 0;
  virtual Tensor silu(const Tensor& x) = 0;
  virtual Tensor gelu(const Tensor& x) = 0;
  virtual Tensor gelu_tanh(const Tensor& x) = 0;
  virtual Tensor quick_gelu(const Tensor& x) = 0;
  virtual Tensor geglu(const Tensor& x) = 0;
  virtual Tensor softmax(const Tensor& x) = 0;
  virtual Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, float scale,
                           bool causal, Precision precision) = 0;
  virtual Tensor upsample_nearest2x(const Tensor& x) = 0;
  virtual Tensor concat_channels(const Tensor& a, const Tensor& b) = 0;
  virtual Tensor add(const Tensor& a, const Tensor& b) = 0;
  virtual void add_(Tensor& a, const Tensor& b) = 0;
  virtual Tensor scale(const Tensor& x, float s) = 0;
  virtual void scale_(Tensor& x, float s) = 0;
  virtual void add_channel_bias_(Tensor& x, const Tensor& bias) = 0;
};

// The backend that computes on `device`.
Backend& backend_for(Device device);
inline Backend& backend_of(const Tensor& t) {
  return backend_for(t.device());
}

}  // namespace i2i
