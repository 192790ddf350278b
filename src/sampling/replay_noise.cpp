#include "core/error.h"
#include "sampling/noise.h"

namespace i2i {

ReplayNoise::ReplayNoise(std::vector<Tensor> tensors) : tensors_(std::move(tensors)) {}

Tensor ReplayNoise::randn(const Shape& shape) {
  if (next_ >= tensors_.size())
    throw Error("replay noise exhausted: draw " + std::to_string(next_ + 1) + " of shape " +
                shape_str(shape) + " requested but only " + std::to_string(tensors_.size()) +
                " tensor(s) were given");
  const Tensor& t = tensors_[next_];
  if (t.shape() != shape)
    throw Error("replay noise: draw " + std::to_string(next_ + 1) + " has shape " + shape_str(t.shape()) +
                " but shape " + shape_str(shape) + " was requested");
  ++next_;
  return t.to(DType::F32).clone();
}

Tensor NchwNoiseForNhwc::randn(const Shape& shape) {
  if (shape.size() != 4) return inner_.randn(shape);
  Tensor nchw = inner_.randn({shape[0], shape[3], shape[1], shape[2]});
  return nchw_to_nhwc(nchw);
}

}  // namespace i2i
