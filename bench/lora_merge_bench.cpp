// Time of merging a LoRA into an SDXL-size UNet's prepared layers and of removing it again (LoraLayers::
// apply, models/lora_apply.h), with random weights on SDXL base's real shapes: the 70 BasicTransformerBlocks
// (640 and 1280 channels, cross-attention from 2048) and their 11 Transformer2DModels.
//   build/bench/lora_merge_bench [fp32|bf16] [attention|transformer] [RANK]
// `attention` (default): every attention Linear (attn1 / attn2 to_q, to_k, to_v, to_out.0: 560 layers,
// 0.96 B weights); `transformer`: also ff.net.0.proj, ff.net.2, proj_in, proj_out (722 layers, 2.2 B),
// the layers kohya's SDXL LoRAs train. The layers are prepared from fp16 sources, as from an fp16 file.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "models/lora_apply.h"

namespace {

using namespace i2i;

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Uniform fp16 values in [-a, a) from a 64-bit LCG (fast: the weights are only data to merge into).
Tensor random_f16(Shape shape, uint64_t& state, float a) {
  Tensor t = Tensor::empty(std::move(shape), DType::F16);
  auto* p = t.data<uint16_t>();
  const int64_t n = t.numel();
  std::vector<float> chunk(4096);
  for (int64_t i = 0; i < n; i += 4096) {
    const int64_t m = std::min<int64_t>(4096, n - i);
    for (int64_t k = 0; k < m; ++k) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      chunk[k] = (static_cast<float>(state >> 40) / 16777216.0f * 2.0f - 1.0f) * a;
    }
    convert_from_f32(chunk.data(), p + i, DType::F16, static_cast<size_t>(m));
  }
  return t;
}

struct Layer {
  std::string module;
  int64_t out, in;
};

// SDXL base's transformer Linears (diffusers names).
std::vector<Layer> sdxl_layers(bool all) {
  struct Block {
    std::string prefix;
    int64_t c;
    int attentions, depth;
  };
  const std::vector<Block> blocks = {{"down_blocks.1.", 640, 2, 2},
                                     {"down_blocks.2.", 1280, 2, 10},
                                     {"mid_block.", 1280, 1, 10},
                                     {"up_blocks.0.", 1280, 3, 10},
                                     {"up_blocks.1.", 640, 3, 2}};
  std::vector<Layer> out;
  for (const Block& b : blocks)
    for (int a = 0; a < b.attentions; ++a) {
      const std::string t = b.prefix + "attentions." + std::to_string(a) + ".";
      if (all) out.push_back({t + "proj_in", b.c, b.c});
      for (int d = 0; d < b.depth; ++d) {
        const std::string p = t + "transformer_blocks." + std::to_string(d) + ".";
        for (const char* n : {"attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0", "attn2.to_q"})
          out.push_back({p + n, b.c, b.c});
        out.push_back({p + "attn2.to_k", b.c, 2048});
        out.push_back({p + "attn2.to_v", b.c, 2048});
        out.push_back({p + "attn2.to_out.0", b.c, b.c});
        if (all) {
          out.push_back({p + "ff.net.0.proj", 8 * b.c, b.c});
          out.push_back({p + "ff.net.2", b.c, 4 * b.c});
        }
      }
      if (all) out.push_back({t + "proj_out", b.c, b.c});
    }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string prec = argc > 1 ? argv[1] : "bf16";
    const std::string scope = argc > 2 ? argv[2] : "attention";
    const int64_t rank = argc > 3 ? std::stoll(argv[3]) : 32;
    check(prec == "fp32" || prec == "bf16", "precision must be fp32 or bf16");
    check(scope == "attention" || scope == "transformer", "scope must be attention or transformer");
    const Precision precision = prec == "bf16" ? Precision::BF16 : Precision::F32;
    const std::vector<Layer> shapes = sdxl_layers(scope == "transformer");

    uint64_t state = 1;
    auto t0 = std::chrono::steady_clock::now();
    std::vector<Linear> layers;
    layers.reserve(shapes.size());
    double weights = 0, flops = 0;
    auto file = std::make_shared<LoraFile>();
    file->path = "random-sdxl-lora-rank" + std::to_string(rank) + ".safetensors";
    file->format = "kohya";
    file->family = "SDXL";
    for (const Layer& l : shapes) {
      layers.emplace_back(random_f16({l.out, l.in}, state, 0.02f), random_f16({l.out}, state, 0.02f),
                          precision);
      weights += static_cast<double>(l.out) * l.in;
      flops += 2.0 * static_cast<double>(l.out) * l.in * rank;
      LoraModule m;
      m.component = LoraComponent::Unet;
      m.name = l.module;
      for (char& c : m.name)
        if (c == '.') c = '_';
      m.key = "lora_unet_" + m.name;
      m.underscored = true;
      m.down = random_f16({rank, l.in}, state, 0.05f);
      m.up = random_f16({l.out, rank}, state, 0.05f);
      m.alpha = static_cast<double>(rank);
      file->modules.push_back(std::move(m));
    }
    const double build = seconds_since(t0);
    LoraLayers lora("random SDXL UNet", "SDXL", 2);
    lora.add_component(LoraComponent::Unet, [&](const LayerVisitor& f) {
      for (size_t i = 0; i < layers.size(); ++i) visit_layer(f, shapes[i].module, layers[i]);
    });
    std::printf("%s, %zu layers (%s), %.2f B weights, rank %lld, built in %.1f s, peak RSS %.0f MB\n",
                prec.c_str(), shapes.size(), scope.c_str(), weights / 1e9, static_cast<long long>(rank),
                build, peak_rss_mb());
    const std::vector<LoraUse> uses = {{file, 1.0, 0.8}};
    for (int run = 0; run < 2; ++run) {
      t0 = std::chrono::steady_clock::now();
      lora.apply(uses);
      const double merge = seconds_since(t0);
      t0 = std::chrono::steady_clock::now();
      lora.apply({});
      const double remove = seconds_since(t0);
      std::printf(
          "run %d: merge %.2f s (%zu layers, delta GEMMs %.0f GFLOP), remove %.2f s, peak RSS %.0f MB\n", run,
          merge, shapes.size(), flops / 1e9, remove, peak_rss_mb());
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lora_merge_bench: %s\n", e.what());
    return 1;
  }
}
