// Linear and Conv2d through oneDNN. Weights are reordered once, at construction, into the layout oneDNN
// prefers (format_tag::any) for a nominal input shape; only that copy is kept (no float32 copy of the
// user's weights). Primitives are created once per input shape and cached (under a mutex). When the
// primitive chosen for a shape wants another weight layout, a copy in that layout is reordered from the
// prepared one (same data type, so exact) and cached with it. Bias and the optional residual (post-op
// sum) are fused.
// BF16: weights are converted to bf16 once, activations on the fly; accumulation and output are float32.
// If the CPU cannot run bf16 primitives, bf16 is emulated (operands rounded to bf16, float32 math).
// Short of memory (an address-space limit, `ulimit -v`), creating a primitive throws i2i::OutOfMemory naming
// the layer instead of crashing inside oneDNN (check_jit_headroom).

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <dnnl.hpp>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "core/phase_timer.h"
#include "kernels/cpu/cpu_backend.h"

namespace i2i::cpu {
namespace {

using dnnl::memory;
using dt = memory::data_type;
using tag = memory::format_tag;

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

void round_bf16(const float* src, float* dst, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(f32_to_bf16(src[i]));
}

// oneDNN writes each primitive's JIT kernels into buffers it maps itself (256 KiB each, a few per primitive,
// reorders included), and when such a map fails its Xbyak, built without exceptions, goes on writing the
// code through a null pointer: a run under an address-space limit crashed there (SIGSEGV) instead of
// reporting the memory it could not get. So before creating a primitive this checks that the address
// space has room for its kernels (a map of kJitHeadroom, released at once; it counts against RLIMIT_AS like
// any other) and throws i2i::OutOfMemory naming the layer when it has not. (Checked, not reserved: between
// the check and the creation only this process's own threads can take the room.)
constexpr size_t kJitHeadroom = size_t{8} << 20;

void check_jit_headroom(const std::string& layer) {
  void* p = mmap(nullptr, kJitHeadroom, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw OutOfMemory("no room for the oneDNN kernels of " + layer);
  munmap(p, kJitHeadroom);
}

// A failure to create a primitive: i2i::OutOfMemory when oneDNN says it is out of memory, else i2i::Error
// `message` with oneDNN's words.
[[noreturn]] void throw_dnnl_error(const dnnl::error& err, const std::string& message) {
  if (err.status == dnnl_out_of_memory) throw OutOfMemory(message + ": out of memory");
  throw Error(message + ": " + err.what());
}

std::vector<float> to_f32_vector(const Tensor& t) {
  if (!t.defined()) return {};
  return t.to_vector();
}

dnnl::primitive make_primitive(const dnnl::matmul::primitive_desc& pd) {
  return dnnl::matmul(pd);
}
dnnl::primitive make_primitive(const dnnl::convolution_forward::primitive_desc& pd) {
  return dnnl::convolution_forward(pd);
}

// Prepared weights: oneDNN memory over a tensor buffer (large ones come from the tensor arena, on huge
// pages where the system offers them).
struct PreparedWeights {
  memory mem;
  Tensor storage;
};

// A primitive descriptor and its primitive, shared by every layer of the same geometry (issue 20): a UNet
// has a few hundred layers but far fewer distinct (layer shape, input shape, data type) combinations, so
// each descriptor is built and each JIT kernel created once per process, not once per layer. Primitives
// run concurrently (user scratchpads), so sharing them is safe; the result is the primitive oneDNN's own
// cache would return for the same descriptor.
template <typename Pd>
struct SharedPrimitive {
  Pd pd;
  dnnl::primitive prim;  // created on first use (prepare() only needs the descriptor)
};

// The shared entry for `key` (the layer's geometry, its compute type and the input shape key), made with
// `make_pd()` on first use; with `need_primitive` its primitive too. Held entries stay valid for their
// layers; the table is emptied when it grows past kMaxSharedPrimitives (a server meeting many sizes).
constexpr size_t kMaxSharedPrimitives = 4096;

template <typename Pd, typename MakePd>
std::shared_ptr<SharedPrimitive<Pd>> shared_primitive(const std::vector<int64_t>& key, bool need_primitive,
                                                      MakePd make_pd) {
  // Never destroyed: primitives must not outlive the engine at exit.
  static auto* const table = new std::map<std::vector<int64_t>, std::shared_ptr<SharedPrimitive<Pd>>>;
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = table->find(key);
  if (it == table->end()) {
    auto e = std::make_shared<SharedPrimitive<Pd>>();
    {
      phase_timer::Scope timed("primitive");
      e->pd = make_pd();
    }
    if (table->size() >= kMaxSharedPrimitives) table->clear();
    it = table->emplace(key, std::move(e)).first;
  }
  if (need_primitive && !it->second->prim) {
    phase_timer::Scope timed("primitive");
    it->second->prim = make_primitive(it->second->pd);
  }
  return it->second;
}

// One primitive for one input shape, with the weights in the layout it wants.
struct Entry {
  dnnl::primitive prim;
  memory::desc src_md, dst_md, scratch_md;
  PreparedWeights weights;
};

// Shared machinery of the two layers: precision handling, prepared weights, the primitive cache.
class DnnlLayer {
 protected:
  using Key = std::vector<int64_t>;

  // `user_weights`: float32 memory in the PyTorch layout. `make_pd(key, weights_md)` builds a primitive
  // descriptor for the given shape key; `nominal` is the shape used to choose the prepared layout.
  template <typename MakePd>
  void prepare(const memory::desc& user_md, const Tensor& weight, Precision precision, const Key& nominal,
               MakePd make_pd) {
    compute_dt_ = precision == Precision::BF16 ? dt::bf16 : dt::f32;
    weights_md_ = memory::desc();
    using Pd = std::invoke_result_t<MakePd, const Key&, const memory::desc&>;
    std::shared_ptr<SharedPrimitive<Pd>> shared;
    try {
      shared = shared_primitive<Pd>(shared_key(nominal), false,
                                    [&] { return make_pd(nominal, any_weights_md()); });
    } catch (const dnnl::error&) {
      if (compute_dt_ != dt::bf16) throw;
      emulate_bf16_ = true;  // no bf16 primitive on this CPU
      compute_dt_ = dt::f32;
      shared = shared_primitive<Pd>(shared_key(nominal), false,
                                    [&] { return make_pd(nominal, any_weights_md()); });
    }
    const Pd& pd = shared->pd;
    // float32 weights are reordered from where they are. For a native bf16 layer, bf16 weights are too,
    // and fp16 ones are rounded to a bf16 copy first (fp16 -> float32 is exact and an fp16 value is never a
    // float32 denormal, so this gives the bits oneDNN's float32 -> bf16 reorder gives: round to nearest
    // even), one pass over half the bytes of a float32 copy. Others (and emulated bf16) go through a float32
    // copy.
    Tensor w = weight;
    memory::desc src_md = user_md;
    const bool direct_bf16 =
        compute_dt_ == dt::bf16 && (weight.dtype() == DType::BF16 || weight.dtype() == DType::F16);
    if (direct_bf16) {
      src_md.data.data_type = dnnl_bf16;  // the same plain layout, 2-byte elements
      if (weight.dtype() == DType::F16) {
        phase_timer::Scope timed("read_convert");
        w = Tensor::empty({weight.numel()}, DType::BF16);
        f16_to_bf16(weight.data<uint16_t>(), w.data<uint16_t>(), weight.numel());
      }
    } else if (weight.dtype() != DType::F32 || emulate_bf16_) {
      phase_timer::Scope timed("read_convert");
      w = Tensor::empty({weight.numel()});
      weights_to_f32(weight.raw(), weight.dtype(), w.data<float>(), weight.numel());
      if (emulate_bf16_) round_bf16(w.data<float>(), w.data<float>(), w.numel());
    }
    weights_md_ = pd.weights_desc();
    weights_ = reorder(memory(src_md, cpu_engine(), const_cast<void*>(w.raw())), weights_md_);
  }

  PreparedWeights reorder(memory src, const memory::desc& md) const {
    phase_timer::Scope timed("reorder");
    PreparedWeights w;
    w.storage = Tensor::empty({static_cast<int64_t>(md.get_size())}, DType::U8);
    w.mem = memory(md, cpu_engine(), w.storage.raw());
    check_jit_headroom(layer_name());
    dnnl::stream stream(cpu_engine());
    dnnl::reorder(src, w.mem).execute(stream, src, w.mem);
    stream.wait();
    return w;
  }

  virtual memory::desc any_weights_md() const = 0;
  // Everything besides the input shape key that the layer's primitive descriptors depend on (layer kind,
  // weight shape, geometry, bias), for sharing them between layers.
  virtual Key geometry() const = 0;

  Key shared_key(const Key& shape_key) const {
    Key k = geometry();
    k.push_back(static_cast<int64_t>(compute_dt_));
    k.push_back(-1);  // separator
    k.insert(k.end(), shape_key.begin(), shape_key.end());
    return k;
  }
  // The layer in messages, e.g. "Conv2d [320, 4, 3, 3]".
  virtual std::string layer_name() const = 0;

  template <typename MakePd>
  std::shared_ptr<const Entry> entry(const Key& key, MakePd make_pd) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    auto e = std::make_shared<Entry>();
    using Pd = std::invoke_result_t<MakePd, const Key&, const memory::desc&>;
    check_jit_headroom(layer_name());
    const auto shared =
        shared_primitive<Pd>(shared_key(key), true, [&] { return make_pd(key, any_weights_md()); });
    const Pd& pd = shared->pd;
    if (pd.weights_desc() == weights_md_) {
      e->weights = weights_;
    } else {
      e->weights = reorder(weights_.mem, pd.weights_desc());
      // The layout was prepared for a guessed shape; a model usually runs each layer at one shape (one
      // resolution, one batch), so when the first real shape wants another layout that layout becomes
      // the prepared one and the guessed copy is released (one copy of the weights instead of two).
      if (cache_.empty()) {
        weights_ = e->weights;
        weights_md_ = pd.weights_desc();
      }
    }
    e->prim = shared->prim;
    e->src_md = pd.src_desc();
    e->dst_md = pd.dst_desc();
    e->scratch_md = pd.scratchpad_desc();
    cache_.emplace(key, e);
    return e;
  }

  // Runs `e` on float32 input `x` (converted to the compute type) writing `out`, which already holds
  // the residual when one is fused.
  void run(const Entry& e, const float* x, int64_t x_numel, float* out) const {
    Tensor converted;  // the activations in the compute type, when that is not float32
    void* src = const_cast<float*>(x);
    if (compute_dt_ == dt::bf16) {
      converted = Tensor::empty({x_numel}, DType::BF16);
      to_bf16(x, converted.data<uint16_t>(), x_numel);
      src = converted.raw();
    } else if (emulate_bf16_) {
      converted = Tensor::empty({x_numel});
      round_bf16(x, converted.data<float>(), x_numel);
      src = converted.raw();
    }
    run_converted(e, src, out);
  }

  // Nearest 2x upsampling of NHWC x [n, h, w, c] written once, in the compute type (what run() would
  // pass oneDNN for upsample_nearest2x(x)).
  Tensor upsample_converted(const Tensor& x) const {
    const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
    const bool bf16 = compute_dt_ == dt::bf16;
    Tensor up = Tensor::empty({n, 2 * h, 2 * w, c}, bf16 ? DType::BF16 : DType::F32);
    const float* xp = x.data<float>();
    const size_t es = bf16 ? 2 : 4, row_bytes = static_cast<size_t>(2 * w * c) * es;
    auto* base = static_cast<uint8_t*>(up.raw());
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t y = 0; y < h; ++y) {
        uint8_t* row0 = base + static_cast<size_t>((i * 2 * h + 2 * y)) * row_bytes;
        const float* src = xp + (i * h + y) * w * c;
        if (bf16) {
          auto* d = reinterpret_cast<uint16_t*>(row0);
          to_bf16_serial(src, d, w * c);  // the first copy of every pixel, then spread
          for (int64_t xx = w - 1; xx >= 0; --xx) {
            std::memmove(d + (2 * xx + 1) * c, d + xx * c, static_cast<size_t>(c) * 2);
            std::memmove(d + 2 * xx * c, d + xx * c, static_cast<size_t>(c) * 2);
          }
        } else {
          auto* d = reinterpret_cast<float*>(row0);
          for (int64_t xx = 0; xx < w; ++xx) {
            const float* s = src + xx * c;
            float* o = d + 2 * xx * c;
            if (emulate_bf16_) {
              for (int64_t k = 0; k < c; ++k) o[k] = o[c + k] = bf16_to_f32(f32_to_bf16(s[k]));
            } else {
              std::memcpy(o, s, static_cast<size_t>(c) * 4);
              std::memcpy(o + c, s, static_cast<size_t>(c) * 4);
            }
          }
        }
        std::memcpy(row0 + row_bytes, row0, row_bytes);
      }
    return up;
  }

  void run_converted(const Entry& e, void* src, float* out) const {
    memory src_mem(e.src_md, cpu_engine(), src);
    memory dst_mem(e.dst_md, cpu_engine(), out);
    memory bias_mem(bias_md(), cpu_engine(), const_cast<float*>(bias_.data()));
    // Per-call scratchpad (user mode), so concurrent calls never share one; not zero-filled.
    Tensor scratch = Tensor::empty({static_cast<int64_t>(e.scratch_md.get_size())}, DType::U8);
    memory scratch_mem(e.scratch_md, cpu_engine(), scratch.raw());
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src_mem},
                                         {DNNL_ARG_WEIGHTS, e.weights.mem},
                                         {DNNL_ARG_DST, dst_mem},
                                         {DNNL_ARG_SCRATCHPAD, scratch_mem}};
    if (!bias_.empty()) args.emplace(DNNL_ARG_BIAS, bias_mem);
    dnnl::stream stream(cpu_engine());
    e.prim.execute(stream, args);
    stream.wait();
  }

  virtual memory::desc bias_md() const = 0;

  // The epilogue of a primitive, the last entry of its shape key: none, adding the destination's contents
  // (a residual copied there first), or the exact GELU.
  enum Epilogue : int64_t { kNone = 0, kSum = 1, kGelu = 2 };
  dnnl::primitive_attr attr(int64_t epilogue) const {
    dnnl::primitive_attr a;
    a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (epilogue != kNone) {
      dnnl::post_ops po;
      if (epilogue == kSum)
        po.append_sum(1.0f);
      else
        po.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
      a.set_post_ops(po);
    }
    return a;
  }

  dt compute_dt_ = dt::f32;
  bool emulate_bf16_ = false;
  std::vector<float> bias_;

 private:
  mutable memory::desc weights_md_;  // the prepared layout (guarded by mutex_ after construction)
  mutable PreparedWeights weights_;
  mutable std::mutex mutex_;
  mutable std::map<Key, std::shared_ptr<const Entry>> cache_;
};

class LinearImpl final : public Linear::Impl, DnnlLayer {
 public:
  LinearImpl(const Tensor& weight, const Tensor& bias, Precision precision)
      : out_(weight.dim(0)), in_(weight.dim(1)) {
    bias_ = to_f32_vector(bias);
    try {
      prepare(memory::desc({in_, out_}, dt::f32, tag::ba), weight, precision, Key{1024, 0},
              [this](const Key& k, const memory::desc& w) { return make_pd(k, w); });
    } catch (const dnnl::error& e) {
      throw_dnnl_error(e, layer_name() + ": oneDNN cannot create the matmul");
    }
  }

  Tensor forward(const Tensor& x, const Tensor* residual) const override {
    const int64_t m = x.dim(0);
    Tensor y = Tensor::empty({m, out_});
    if (m == 0) return y;
    if (residual) std::memcpy(y.raw(), residual->raw(), y.nbytes());
    run(*matmul(m, residual ? kSum : kNone), x.data<float>(), x.numel(), y.data<float>());
    return y;
  }

  Tensor forward_gelu(const Tensor& x) const override {
    const int64_t m = x.dim(0);
    Tensor y = Tensor::empty({m, out_});
    if (m == 0) return y;
    run(*matmul(m, kGelu), x.data<float>(), x.numel(), y.data<float>());
    return y;
  }

  void forward_add(const Tensor& x, Tensor& out) const override {
    const int64_t m = x.dim(0);
    if (m == 0) return;
    run(*matmul(m, kSum), x.data<float>(), x.numel(), out.data<float>());
  }

 private:
  // The matmul for m rows with `epilogue`, made on first use.
  std::shared_ptr<const Entry> matmul(int64_t m, int64_t epilogue) const {
    try {
      return entry(Key{m, epilogue}, [this](const Key& k, const memory::desc& w) { return make_pd(k, w); });
    } catch (const dnnl::error& err) {
      throw_dnnl_error(err,
                       layer_name() + ": oneDNN cannot create the matmul for " + std::to_string(m) + " rows");
    }
  }

  memory::desc any_weights_md() const override { return memory::desc({in_, out_}, compute_dt_, tag::any); }
  Key geometry() const override { return {0, in_, out_, bias_.empty() ? 0 : 1}; }
  std::string layer_name() const override {
    return "Linear [" + std::to_string(out_) + ", " + std::to_string(in_) + "]";
  }
  memory::desc bias_md() const override { return memory::desc({1, out_}, dt::f32, tag::ab); }

  dnnl::matmul::primitive_desc make_pd(const Key& key, const memory::desc& weights_md) const {
    const int64_t m = key[0];
    memory::desc src({m, in_}, compute_dt_, tag::ab);
    memory::desc dst({m, out_}, dt::f32, tag::ab);
    memory::desc bias = bias_.empty() ? memory::desc() : bias_md();
    dnnl::matmul::desc d(src, weights_md, bias, dst);
    return dnnl::matmul::primitive_desc(d, attr(key[1]), cpu_engine());
  }

  int64_t out_, in_;
};

class ConvImpl final : public Conv2d::Impl, DnnlLayer {
 public:
  ConvImpl(const Tensor& weight, const Tensor& bias, int stride, Padding padding, Precision precision)
      : out_(weight.dim(0)),
        in_(weight.dim(1)),
        kh_(weight.dim(2)),
        kw_(weight.dim(3)),
        stride_(stride),
        pad_(padding) {
    bias_ = to_f32_vector(bias);
    const int64_t nh = std::max<int64_t>(32, kh_), nw = std::max<int64_t>(32, kw_);
    try {
      prepare(memory::desc({out_, in_, kh_, kw_}, dt::f32, tag::oihw), weight, precision, Key{1, nh, nw, 0},
              [this](const Key& k, const memory::desc& w) { return make_pd(k, w); });
    } catch (const dnnl::error& e) {
      throw_dnnl_error(e, layer_name() + ": oneDNN cannot create the convolution");
    }
  }

  int64_t out_h(int64_t h) const override {
    int64_t span = h + pad_.top + pad_.bottom - kh_;
    return span < 0 ? 0 : span / stride_ + 1;
  }
  int64_t out_w(int64_t w) const override {
    int64_t span = w + pad_.left + pad_.right - kw_;
    return span < 0 ? 0 : span / stride_ + 1;
  }

  DType input_dtype() const override { return compute_dt_ == dt::bf16 ? DType::BF16 : DType::F32; }

  Tensor forward(const Tensor& x_in, const Tensor* residual) const override {
    // A bf16 input goes to a bf16 primitive as it is; elsewhere it is widened to float32 (exact).
    const bool direct = x_in.dtype() == DType::BF16 && compute_dt_ == dt::bf16;
    const Tensor x = x_in.dtype() == DType::BF16 && !direct ? x_in.to(DType::F32) : x_in;
    const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2);
    Tensor y = Tensor::empty({n, out_h(h), out_w(w), out_});
    if (y.numel() == 0) return y;
    if (residual) std::memcpy(y.raw(), residual->raw(), y.nbytes());
    std::shared_ptr<const Entry> e;
    try {
      e = entry(Key{n, h, w, residual ? 1 : 0},
                [this](const Key& k, const memory::desc& wd) { return make_pd(k, wd); });
    } catch (const dnnl::error& err) {
      throw_dnnl_error(
          err, layer_name() + ": oneDNN cannot create the convolution for input " + shape_str(x.shape()));
    }
    if (direct)
      run_converted(*e, const_cast<void*>(x.raw()), y.data<float>());
    else
      run(*e, x.data<float>(), x.numel(), y.data<float>());
    return y;
  }

  Tensor forward_upsampled2x(const Tensor& x) const override {
    const int64_t n = x.dim(0), h = 2 * x.dim(1), w = 2 * x.dim(2);
    Tensor y = Tensor::empty({n, out_h(h), out_w(w), out_});
    if (y.numel() == 0) return y;
    std::shared_ptr<const Entry> e;
    try {
      e = entry(Key{n, h, w, 0}, [this](const Key& k, const memory::desc& wd) { return make_pd(k, wd); });
    } catch (const dnnl::error& err) {
      throw_dnnl_error(err, layer_name() + ": oneDNN cannot create the convolution for input " +
                                shape_str({n, h, w, in_}));
    }
    Tensor up = upsample_converted(x);
    run_converted(*e, up.raw(), y.data<float>());
    return y;
  }

 private:
  memory::desc any_weights_md() const override {
    return memory::desc({out_, in_, kh_, kw_}, compute_dt_, tag::any);
  }
  memory::desc bias_md() const override { return memory::desc({out_}, dt::f32, tag::a); }
  Key geometry() const override {
    return {
        1, out_, in_, kh_, kw_, stride_, pad_.top, pad_.left, pad_.bottom, pad_.right, bias_.empty() ? 0 : 1};
  }
  std::string layer_name() const override {
    return "Conv2d [" + std::to_string(out_) + ", " + std::to_string(in_) + ", " + std::to_string(kh_) +
           ", " + std::to_string(kw_) + "]";
  }

  dnnl::convolution_forward::primitive_desc make_pd(const Key& key, const memory::desc& weights_md) const {
    const int64_t n = key[0], h = key[1], w = key[2];
    memory::desc src({n, in_, h, w}, compute_dt_, tag::nhwc);
    memory::desc dst({n, out_, out_h(h), out_w(w)}, dt::f32, tag::nhwc);
    memory::desc bias = bias_.empty() ? memory::desc() : bias_md();
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                      src, weights_md, bias, dst, {stride_, stride_}, {pad_.top, pad_.left},
                                      {pad_.bottom, pad_.right});
    return dnnl::convolution_forward::primitive_desc(d, attr(key[3] != 0 ? kSum : kNone), cpu_engine());
  }

  int64_t out_, in_, kh_, kw_, stride_;
  Padding pad_;
};

}  // namespace

std::shared_ptr<const Linear::Impl> make_linear(const Tensor& weight, const Tensor& bias,
                                                Precision precision) {
  return std::make_shared<LinearImpl>(weight, bias, precision);
}

std::shared_ptr<const Conv2d::Impl> make_conv2d(const Tensor& weight, const Tensor& bias, int stride,
                                                Padding padding, Precision precision) {
  return std::make_shared<ConvImpl>(weight, bias, stride, padding, precision);
}

}  // namespace i2i::cpu
