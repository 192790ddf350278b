// Weights: named tensors of one model component (views into memory-mapped safetensors files, in the
// file's own dtype), under the component's canonical (diffusers) names. Loaders fill it; model code
// reads from it and gets an error naming the tensor and its origin when something is missing or has
// an unexpected shape.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace i2i {

class Weights {
 public:
  // `origin` says where the tensors come from (a file or folder), used in error messages.
  explicit Weights(std::string origin = "") : origin_(std::move(origin)) {}

  void add(const std::string& name, Tensor t) { tensors_[name] = std::move(t); }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  // The tensor as stored; throws i2i::Error "<origin>: missing tensor '<name>'", or naming the tensor and
  // its dtype when it is not a floating-point one (F32, F16, BF16: every model weight is).
  const Tensor& get(const std::string& name) const;
  // As get(), and checks the shape: "<origin>: tensor '<name>' has shape [..], expected [..]".
  const Tensor& get(const std::string& name, const Shape& expected) const;
  // The entries whose names start with `prefix`, with the prefix removed.
  Weights sub(const std::string& prefix) const;
  // Full name of `name` for messages (prefixes removed by sub() are kept in mind).
  std::string full_name(const std::string& name) const { return prefix_ + name; }

  const std::string& origin() const { return origin_; }
  const std::map<std::string, Tensor>& all() const { return tensors_; }
  size_t size() const { return tensors_.size(); }
  int64_t parameter_count() const;

 private:
  std::string origin_;
  std::string prefix_;
  std::map<std::string, Tensor> tensors_;
};

}  // namespace i2i
