#include "tools/bench_peak.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <dnnl.hpp>
#include <sstream>
#include <unordered_map>

#include "core/error.h"

namespace i2i::bench {
namespace {

using Clock = std::chrono::steady_clock;
using dnnl::memory;

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// Small finite values in every operand (bf16 0x3f80 and float 1.0 are both 1.0).
void fill_ones(memory& m) {
  const size_t bytes = m.get_desc().get_size();
  auto* data = static_cast<uint8_t*>(m.get_data_handle());
  if (m.get_desc().data_type() == memory::data_type::bf16) {
    auto* h = reinterpret_cast<uint16_t*>(data);
    std::fill(h, h + bytes / 2, uint16_t{0x3f80});
  } else {
    auto* f = reinterpret_cast<float*>(data);
    std::fill(f, f + bytes / 4, 1.0f);
  }
}

// The primitive of one shape, its operands and implementation name.
struct Probe {
  dnnl::primitive prim;
  std::unordered_map<int, memory> args;
  std::string impl;
};

template <typename Pd>
Probe make_probe(const Pd& pd) {
  Probe p;
  p.impl = pd.impl_info_str();
  memory src(pd.src_desc(), engine()), wei(pd.weights_desc(), engine()), dst(pd.dst_desc(), engine());
  fill_ones(src);
  fill_ones(wei);
  p.args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}};
  if (pd.scratchpad_desc().get_size() > 0)
    p.args.emplace(DNNL_ARG_SCRATCHPAD, memory(pd.scratchpad_desc(), engine()));
  return p;
}

// As dnnl_layers.cpp builds them: activations row-major / NHWC in the compute type, weights in the layout
// oneDNN picks (format_tag::any), float32 output.
Probe probe(const PeakShape& s, Precision p) {
  const auto in = p == Precision::BF16 ? memory::data_type::bf16 : memory::data_type::f32;
  const auto f32 = memory::data_type::f32;
  using tag = memory::format_tag;
  if (s.kind == PeakShape::Kind::Matmul) {
    memory::desc a({s.m, s.k}, in, tag::ab), b({s.k, s.n}, in, tag::any), c({s.m, s.n}, f32, tag::ab);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), attr, engine());
    Probe r = make_probe(pd);
    r.prim = dnnl::matmul(pd);
    return r;
  }
  memory::desc src({s.batch, s.ci, s.h, s.w}, in, tag::nhwc);
  memory::desc wei({s.co, s.ci, 3, 3}, in, tag::any);
  memory::desc dst({s.batch, s.co, s.h, s.w}, f32, tag::nhwc);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                    src, wei, dst, {1, 1}, {1, 1}, {1, 1});
  dnnl::convolution_forward::primitive_desc pd(d, attr, engine());
  Probe r = make_probe(pd);
  r.prim = dnnl::convolution_forward(pd);
  return r;
}

}  // namespace

std::string PeakShape::name() const {
  std::ostringstream s;
  if (kind == Kind::Matmul)
    s << "matmul " << m << "x" << k << "x" << n;
  else
    s << "conv3x3 " << batch << "x" << h << "x" << w << "x" << ci << "->" << co;
  return s.str();
}

double PeakShape::flops() const {
  if (kind == Kind::Matmul)
    return 2.0 * static_cast<double>(m) * static_cast<double>(k) * static_cast<double>(n);
  return 2.0 * static_cast<double>(batch * h * w) * static_cast<double>(co) * static_cast<double>(ci) * 9.0;
}

const std::vector<PeakShape>& peak_shapes() {
  using K = PeakShape::Kind;
  static const std::vector<PeakShape> shapes = {
      {K::Matmul, 4096, 4096, 4096},
      {K::Matmul, 8192, 320, 1280},  // level 1 of a CFG step: 2 x 64 x 64 tokens, 320 channels
      {K::Matmul, 2048, 1280, 5120},
      {K::Conv3x3, 0, 0, 0, 2, 64, 64, 320, 320},  // UNet level 1 (CFG batch)
      {K::Conv3x3, 0, 0, 0, 2, 32, 32, 640, 640},  // UNet level 2
      {K::Conv3x3, 0, 0, 0, 1, 128, 128, 128, 128},
      {K::Conv3x3, 0, 0, 0, 1, 128, 128, 512, 512},  // VAE decoder at 512x512, second level
  };
  return shapes;
}

bool repetitions_stable(const std::vector<double>& seconds, int window, double tolerance) {
  const size_t n = seconds.size();
  if (window < 1 || n < static_cast<size_t>(window) + 1) return false;
  const auto split = seconds.end() - window;
  const double best_before = *std::min_element(seconds.begin(), split);
  const double best_last = *std::min_element(split, seconds.end());
  return best_last >= best_before * (1.0 - tolerance);
}

PeakMeasurement measure_peak_shape(const PeakShape& shape, Precision p, std::string* impl, int max_reps,
                                   double max_seconds) {
  Probe pr;
  try {
    pr = probe(shape, p);
  } catch (const dnnl::error& e) {
    throw Error("bench: oneDNN cannot create the " + std::string(p == Precision::BF16 ? "bf16" : "fp32") +
                " " + shape.name() + ": " + e.what());
  }
  if (impl) *impl = pr.impl;
  dnnl::stream stream(engine());
  pr.prim.execute(stream, pr.args);  // warm-up
  stream.wait();
  std::vector<double> times;
  const auto start = Clock::now();
  const int least = 4;
  while (true) {
    const auto t0 = Clock::now();
    pr.prim.execute(stream, pr.args);
    stream.wait();
    times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    const int n = static_cast<int>(times.size());
    const double spent = std::chrono::duration<double>(Clock::now() - start).count();
    if (n >= least && (repetitions_stable(times) || n >= max_reps || spent >= max_seconds)) break;
  }
  PeakMeasurement m;
  m.seconds = *std::min_element(times.begin(), times.end());
  m.gflops = shape.flops() / m.seconds * 1e-9;
  m.reps = static_cast<int>(times.size());
  return m;
}

Peak choose_peak(std::vector<PeakCandidate> candidates) {
  Peak peak;
  for (const PeakCandidate& c : candidates) {
    for (const auto& [m, when] : {std::pair{&c.before, "before"}, std::pair{&c.after, "after"}}) {
      if (m->reps == 0) continue;
      double& round = std::string(when) == "before" ? peak.before_gflops : peak.after_gflops;
      round = std::max(round, m->gflops);
      if (m->gflops > peak.gflops) {
        peak.gflops = m->gflops;
        peak.seconds = m->seconds;
        peak.flops = c.flops;
        peak.set_by = c.name;
        peak.impl = c.impl;
        peak.when = when;
      }
    }
  }
  peak.candidates = std::move(candidates);
  return peak;
}

std::vector<PeakCandidate> measure_peak_candidates(Precision p) {
  std::vector<PeakCandidate> out;
  for (const PeakShape& s : peak_shapes()) {
    PeakCandidate c;
    c.name = s.name();
    c.flops = s.flops();
    c.before = measure_peak_shape(s, p, &c.impl);
    out.push_back(std::move(c));
  }
  return out;
}

void remeasure_peak_candidates(std::vector<PeakCandidate>& candidates, Precision p) {
  const auto& shapes = peak_shapes();
  for (PeakCandidate& c : candidates)
    for (const PeakShape& s : shapes)
      if (s.name() == c.name) c.after = measure_peak_shape(s, p);
}

std::string onednn_isa() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41:
      return "sse41";
    case dnnl::cpu_isa::avx:
      return "avx";
    case dnnl::cpu_isa::avx2:
      return "avx2";
    case dnnl::cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case dnnl::cpu_isa::avx512_mic:
      return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops:
      return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core:
      return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    default:
      return "all";
  }
}

std::string onednn_version() {
  const dnnl_version_t* v = dnnl_version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}

}  // namespace i2i::bench
