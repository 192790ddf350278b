// Linear and Conv2d: argument checking, then the backend of the weights' device prepares and runs them.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/phase_timer.h"
#include "kernels/backend.h"
#include "kernels/conv2d.h"
#include "kernels/linear.h"

namespace i2i {
namespace {

void check_weight(const Tensor& w, const char* layer) {
  check(w.defined() && w.numel() > 0, std::string(layer) + ": weight is undefined or empty");
  check(w.dtype() == DType::F32 || w.dtype() == DType::F16 || w.dtype() == DType::BF16,
        std::string(layer) + ": weight must be F32, F16 or BF16, got " + std::string(dtype_name(w.dtype())));
}

void check_bias(const Tensor& b, int64_t out, const char* layer) {
  if (!b.defined()) return;  // no bias
  check(b.ndim() == 1 && b.dim(0) == out, std::string(layer) + ": bias has shape " + shape_str(b.shape()) +
                                              ", expected [" + std::to_string(out) + "]");
  check(b.dtype() == DType::F32 || b.dtype() == DType::F16 || b.dtype() == DType::BF16,
        std::string(layer) + ": bias must be F32, F16 or BF16, got " + std::string(dtype_name(b.dtype())));
}

void check_input(const Tensor& x, const char* layer, bool bf16_ok = false) {
  check(x.dtype() == DType::F32 || (bf16_ok && x.dtype() == DType::BF16),
        std::string(layer) + ": input must be float32" + (bf16_ok ? " or bf16" : "") + ", got " +
            std::string(dtype_name(x.dtype())) + " " + shape_str(x.shape()));
  check(x.defined(), std::string(layer) + ": input is undefined");
}

void check_residual(const Tensor* r, const Shape& out, const char* layer) {
  if (!r) return;
  check(r->defined() && r->dtype() == DType::F32, std::string(layer) + ": residual must be a float32 tensor");
  check(r->shape() == out, std::string(layer) + ": residual has shape " + shape_str(r->shape()) +
                               ", expected the output shape " + shape_str(out));
}

// The rows of `parts` (float tensors [rows_i, ...] of equal trailing shape) stacked into one float32 tensor.
Tensor stack_rows(const std::vector<Tensor>& parts, const char* what) {
  check(!parts.empty(), std::string("Linear: no ") + what + " blocks");
  Shape shape = parts[0].shape();
  shape[0] = 0;
  for (const Tensor& t : parts) {
    check(t.ndim() == static_cast<int64_t>(shape.size()) &&
              std::equal(shape.begin() + 1, shape.end(), t.shape().begin() + 1),
          std::string("Linear: ") + what + " blocks " + shape_str(parts[0].shape()) + " and " +
              shape_str(t.shape()) + " do not stack");
    check(t.dtype() == DType::F32 || t.dtype() == DType::F16 || t.dtype() == DType::BF16,
          std::string("Linear: ") + what + " must be F32, F16 or BF16, got " +
              std::string(dtype_name(t.dtype())));
    shape[0] += t.dim(0);
  }
  const phase_timer::Scope timed("read_convert");
  Tensor out = Tensor::empty(shape);
  float* dst = out.data<float>();
  for (const Tensor& t : parts) {
    convert_to_f32(t.raw(), t.dtype(), dst, static_cast<size_t>(t.numel()));
    dst += t.numel();
    t.release_file_pages();
  }
  return out;
}

}  // namespace

Linear::Linear(std::vector<Tensor> weights, std::vector<Tensor> biases, Precision precision)
    : Linear(weights.size() == 1 ? weights[0] : stack_rows(weights, "weight"),
             biases.empty()       ? Tensor()
             : biases.size() == 1 ? biases[0]
                                  : stack_rows(biases, "bias"),
             precision) {
  check(biases.empty() || biases.size() == weights.size(),
        "Linear: " + std::to_string(biases.size()) + " biases for " + std::to_string(weights.size()) +
            " weight blocks");
  source_ = std::make_shared<const Source>(Source{std::move(weights), std::move(biases), precision});
}

const Linear::Source& Linear::source() const {
  check(source_ != nullptr, "Linear: layer is not initialised");
  return *source_;
}

Linear Linear::with_weight(const Tensor& weight) const {
  const Source& s = source();
  if (weight.ndim() != 2 || weight.dim(0) != out_ || weight.dim(1) != in_)
    throw Error("Linear: new weight " + shape_str(weight.shape()) + " for a layer [" + std::to_string(out_) +
                ", " + std::to_string(in_) + "]");
  const Tensor bias = s.biases.empty()       ? Tensor()
                      : s.biases.size() == 1 ? s.biases[0]
                                             : stack_rows(s.biases, "bias");
  Linear l(weight, bias, s.precision);
  l.source_ = source_;
  return l;
}

Linear Linear::rebuilt() const {
  const Source& s = source();
  return Linear(s.weights, s.biases, s.precision);
}

Linear Linear::released() const {
  Linear l;
  l.source_ = source_;
  l.in_ = in_;
  l.out_ = out_;
  return l;
}

namespace {
std::string unprepared_linear(const Linear& l, bool has_source) {
  return has_source ? "Linear [" + std::to_string(l.out_features()) + ", " + std::to_string(l.in_features()) +
                          "]: its prepared weights were released (prepare it again first)"
                    : "Linear: layer is not initialised";
}
}  // namespace

Linear::Linear(const Tensor& weight, const Tensor& bias, Precision precision) {
  check_weight(weight, "Linear");
  check(weight.ndim() == 2, "Linear: weight must be [out, in], got " + shape_str(weight.shape()));
  out_ = weight.dim(0);
  in_ = weight.dim(1);
  check_bias(bias, out_, "Linear");
  impl_ = backend_of(weight).make_linear(weight, bias, precision);
  weight.release_file_pages();
  source_ = std::make_shared<const Source>(
      Source{{weight}, bias.defined() ? std::vector<Tensor>{bias} : std::vector<Tensor>{}, precision});
}

Shape Linear::checked_output_shape(const Tensor& x) const {
  if (impl_ == nullptr) throw Error(unprepared_linear(*this, source_ != nullptr));
  check_input(x, "Linear");
  check(x.ndim() >= 1 && x.dim(-1) == in_,
        "Linear: input " + shape_str(x.shape()) + " does not end in " + std::to_string(in_) + " features");
  Shape out_shape = x.shape();
  out_shape.back() = out_;
  return out_shape;
}

Tensor Linear::operator()(const Tensor& x, const Tensor* residual) const {
  const Shape out_shape = checked_output_shape(x);
  check_residual(residual, out_shape, "Linear");
  int64_t m = x.numel() / in_;
  Tensor r2;
  if (residual) r2 = residual->reshape({m, out_});
  Tensor y = impl_->forward(x.reshape({m, in_}), residual ? &r2 : nullptr);
  return y.reshape(out_shape);
}

Tensor Linear::forward_gelu(const Tensor& x) const {
  const Shape out_shape = checked_output_shape(x);
  const int64_t m = x.numel() / in_;
  return impl_->forward_gelu(x.reshape({m, in_})).reshape(out_shape);
}

void Linear::accumulate(const Tensor& x, Tensor& out) const {
  const Shape out_shape = checked_output_shape(x);
  if (out.dtype() != DType::F32 || out.shape() != out_shape)
    throw Error("Linear: accumulate into " + shape_str(out.shape()) + ", expected float32 " +
                shape_str(out_shape));
  const int64_t m = x.numel() / in_;
  Tensor y = out.reshape({m, out_});
  impl_->forward_add(x.reshape({m, in_}), y);
}

Conv2d::Conv2d(const Tensor& weight, const Tensor& bias, int stride, Padding padding, Precision precision) {
  check_weight(weight, "Conv2d");
  check(weight.ndim() == 4, "Conv2d: weight must be [out, in, kh, kw], got " + shape_str(weight.shape()));
  check(stride >= 1, "Conv2d: stride must be at least 1, got " + std::to_string(stride));
  check(padding.top >= 0 && padding.left >= 0 && padding.bottom >= 0 && padding.right >= 0,
        "Conv2d: padding must not be negative");
  out_ = weight.dim(0);
  in_ = weight.dim(1);
  check_bias(bias, out_, "Conv2d");
  impl_ = backend_of(weight).make_conv2d(weight, bias, stride, padding, precision);
  weight.release_file_pages();
  source_ = std::make_shared<const Source>(Source{weight, bias, stride, padding, precision});
}

const Conv2d::Source& Conv2d::source() const {
  check(source_ != nullptr, "Conv2d: layer is not initialised");
  return *source_;
}

Conv2d Conv2d::with_weight(const Tensor& weight) const {
  const Source& s = source();
  if (weight.shape() != s.weight.shape())
    throw Error("Conv2d: new weight " + shape_str(weight.shape()) + " for a layer of weight " +
                shape_str(s.weight.shape()));
  Conv2d c(weight, s.bias, s.stride, s.padding, s.precision);
  c.source_ = source_;
  return c;
}

Conv2d Conv2d::rebuilt() const {
  const Source& s = source();
  return Conv2d(s.weight, s.bias, s.stride, s.padding, s.precision);
}

DType Conv2d::input_dtype() const {
  return impl_ ? impl_->input_dtype() : DType::F32;
}

Tensor Conv2d::operator()(const Tensor& x, const Tensor* residual) const {
  check(impl_ != nullptr, "Conv2d: layer is not initialised");
  check_input(x, "Conv2d", /*bf16_ok=*/true);
  check(x.ndim() == 4 && x.dim(3) == in_,
        "Conv2d: input " + shape_str(x.shape()) + " is not [N, H, W, " + std::to_string(in_) + "]");
  int64_t oh = impl_->out_h(x.dim(1)), ow = impl_->out_w(x.dim(2));
  check(oh > 0 && ow > 0, "Conv2d: input " + shape_str(x.shape()) + " is smaller than the kernel");
  check_residual(residual, Shape{x.dim(0), oh, ow, out_}, "Conv2d");
  return impl_->forward(x, residual);
}

Tensor Conv2d::upsampled2x(const Tensor& x) const {
  check(impl_ != nullptr, "Conv2d: layer is not initialised");
  check_input(x, "Conv2d");
  check(x.ndim() == 4 && x.dim(3) == in_,
        "Conv2d: input " + shape_str(x.shape()) + " is not [N, H, W, " + std::to_string(in_) + "]");
  check(impl_->out_h(2 * x.dim(1)) > 0 && impl_->out_w(2 * x.dim(2)) > 0,
        "Conv2d: upsampled input " + shape_str(x.shape()) + " x2 is smaller than the kernel");
  return impl_->forward_upsampled2x(x);
}

}  // namespace i2i
