#include "models/weights.h"

#include "core/error.h"

namespace i2i {

const Tensor& Weights::get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw Error(origin_ + ": missing tensor '" + full_name(name) + "'");
  const DType t = it->second.dtype();
  if (t != DType::F32 && t != DType::F16 && t != DType::BF16)  // (the layers would fail without the name)
    throw Error(origin_ + ": tensor '" + full_name(name) + "' is " + std::string(dtype_name(t)) +
                ": model weights must be F32, F16 or BF16");
  return it->second;
}

const Tensor& Weights::get(const std::string& name, const Shape& expected) const {
  const Tensor& t = get(name);
  if (t.shape() != expected)
    throw Error(origin_ + ": tensor '" + full_name(name) + "' has shape " + shape_str(t.shape()) +
                ", expected " + shape_str(expected));
  return t;
}

Weights Weights::sub(const std::string& prefix) const {
  Weights w(origin_);
  w.prefix_ = prefix_ + prefix;
  for (auto it = tensors_.lower_bound(prefix);
       it != tensors_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
    w.tensors_.emplace(it->first.substr(prefix.size()), it->second);
  return w;
}

int64_t Weights::parameter_count() const {
  int64_t n = 0;
  for (const auto& [name, t] : tensors_) n += t.numel();
  return n;
}

}  // namespace i2i
