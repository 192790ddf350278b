#include "kernels/cpu/cpu_backend.h"

namespace i2i::cpu {
namespace {

class CpuBackend final : public Backend {
 public:
  const char* name() const override { return "cpu"; }
  std::shared_ptr<const Linear::Impl> make_linear(const Tensor& weight, const Tensor& bias,
                                                  Precision precision) override {
    return cpu::make_linear(weight, bias, precision);
  }
  std::shared_ptr<const Conv2d::Impl> make_conv2d(const Tensor& weight, const Tensor& bias, int stride,
                                                  Padding padding, Precision precision) override {
    return cpu::make_conv2d(weight, bias, stride, padding, precision);
  }
  Tensor group_norm(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps,
                    bool silu, DType out) override {
    return cpu::group_norm(x, groups, gamma, beta, eps, silu, out);
  }
  Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) override {
    return cpu::layer_norm(x, gamma, beta, eps);
  }
  Tensor silu(const Tensor& x) override { return activation(x, Act::SiLU); }
  Tensor gelu(const Tensor& x) override { return activation(x, Act::GELU); }
  Tensor gelu_tanh(const Tensor& x) override { return activation(x, Act::GELUTanh); }
  Tensor quick_gelu(const Tensor& x) override { return activation(x, Act::QuickGELU); }
  Tensor geglu(const Tensor& x) override { return cpu::geglu(x); }
  Tensor softmax(const Tensor& x) override { return cpu::softmax(x); }
  Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, float scale, bool causal,
                   Precision precision) override {
    return cpu::attention(q, k, v, heads, scale, causal, precision);
  }
  Tensor upsample_nearest2x(const Tensor& x) override { return cpu::upsample_nearest2x(x); }
  Tensor concat_channels(const Tensor& a, const Tensor& b) override { return cpu::concat_channels(a, b); }
  Tensor add(const Tensor& a, const Tensor& b) override { return cpu::add(a, b); }
  void add_(Tensor& a, const Tensor& b) override { cpu::add_(a, b); }
  Tensor scale(const Tensor& x, float s) override { return cpu::scale(x, s); }
  void scale_(Tensor& x, float s) override { cpu::scale_(x, s); }
  void add_channel_bias_(Tensor& x, const Tensor& bias) override { cpu::add_channel_bias_(x, bias); }
};

}  // namespace

Backend& cpu_backend() {
  static CpuBackend backend;
  return backend;
}

}  // namespace i2i::cpu
