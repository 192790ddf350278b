#include "tools/bench_edge_annotators.h"

#include <cmath>
#include <memory>
#include <random>
#include <string>

#include "io/image.h"
#include "models/controlnet_hed.h"
#include "models/lineart_generator.h"
#include "models/weights.h"
#include "preprocess/lineart.h"
#include "preprocess/soft_edge.h"

namespace i2i::bench {
namespace {

constexpr int kSide = 512;  // picture, detect and image resolution

// A conv weight [out, in, k, k] with N(0, 1 / fan_in) values (fp32, as the released .pth files) and a bias.
void add_conv(Weights& w, const std::string& name, int64_t out, int64_t in, int64_t k, std::mt19937_64& rng,
              bool transposed = false) {
  std::normal_distribution<float> dist(0.f, 1.f / std::sqrt(static_cast<float>(in * k * k)));
  Tensor t = Tensor::empty(transposed ? Shape{in, out, k, k} : Shape{out, in, k, k});
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  w.add(name + ".weight", t);
  Tensor b = Tensor::empty({out});
  for (int64_t i = 0; i < out; ++i) b.data<float>()[i] = 0.01f * dist(rng);
  w.add(name + ".bias", b);
}

double conv_flops(int64_t out, int64_t in, double taps, int64_t h, int64_t w) {
  return 2.0 * static_cast<double>(out * in) * taps * static_cast<double>(h * w);
}

Image random_picture(uint64_t seed) {
  std::mt19937_64 rng(seed);
  Image img(kSide, kSide, 3);
  for (auto& p : img.pixels) p = static_cast<uint8_t>(rng() & 0xff);
  return img;
}

}  // namespace

AnnotatorStage lineart_stage(Precision precision, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Weights w("random line-art generator");
  const int64_t c0 = 64, c1 = 128, c2 = 256;
  add_conv(w, "model0.1", c0, 3, 7, rng);
  add_conv(w, "model1.0", c1, c0, 3, rng);
  add_conv(w, "model1.3", c2, c1, 3, rng);
  for (int b = 0; b < 3; ++b)
    for (const char* i : {"1", "5"})
      add_conv(w, "model2." + std::to_string(b) + ".conv_block." + i, c2, c2, 3, rng);
  add_conv(w, "model3.0", c1, c2, 3, rng, true);
  add_conv(w, "model3.3", c0, c1, 3, rng, true);
  add_conv(w, "model4.1", 1, c0, 7, rng);
  auto net = std::make_shared<LineartGenerator>(w, precision);
  const int64_t s = kSide;
  AnnotatorStage st;
  st.flops = conv_flops(c0, 3, 49, s, s) + conv_flops(c1, c0, 9, s / 2, s / 2) +
             conv_flops(c2, c1, 9, s / 4, s / 4) + 6 * conv_flops(c2, c2, 9, s / 4, s / 4) +
             conv_flops(c1, c2, 9.0 / 4, s / 2, s / 2) + conv_flops(c0, c1, 9.0 / 4, s, s) +
             conv_flops(1, c0, 49, s, s);
  auto picture = std::make_shared<Image>(random_picture(seed + 1));
  st.run = [net, picture] { lineart_map(*picture, *net, kSide, kSide); };
  return st;
}

AnnotatorStage softedge_stage(Precision precision, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Weights w("random ControlNetHED");
  Tensor norm = Tensor::from_vector({1, 3, 1, 1}, {123.675f, 116.28f, 103.53f});
  w.add("norm", norm);
  const int64_t widths[5] = {64, 128, 256, 512, 512};
  const int layers[5] = {2, 2, 3, 3, 3};
  AnnotatorStage st;
  int64_t in = 3, side = kSide;
  for (int b = 0; b < 5; ++b) {
    const std::string p = "block" + std::to_string(b + 1) + ".";
    if (b > 0) side /= 2;
    for (int i = 0; i < layers[b]; ++i) {
      add_conv(w, p + "convs." + std::to_string(i), widths[b], i == 0 ? in : widths[b], 3, rng);
      st.flops += conv_flops(widths[b], i == 0 ? in : widths[b], 9, side, side);
    }
    add_conv(w, p + "projection", 1, widths[b], 1, rng);
    st.flops += conv_flops(1, widths[b], 1, side, side);
    in = widths[b];
  }
  auto net = std::make_shared<ControlNetHed>(w, precision);
  auto picture = std::make_shared<Image>(random_picture(seed + 1));
  st.run = [net, picture] { soft_edge_map(*picture, *net, false, kSide, kSide); };
  return st;
}

}  // namespace i2i::bench
