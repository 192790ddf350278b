#include "tools/random_checkpoint.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/temp_files.h"

namespace i2i {

SdShape SdShape::sd15() {
  return SdShape{};
}

SdShape SdShape::sd21() {
  SdShape s;
  s.context_dim = 1024;
  s.linear_projection = true;
  s.text = TextEncoders::OpenClip;
  return s;
}

SdShape SdShape::sdxl() {
  SdShape s;
  s.channel_mult = {1, 2, 4};
  s.attention = {false, true, true};
  s.transformer_depth = {0, 2, 10};
  s.mid_transformer_depth = 10;
  s.context_dim = 768 + 1280;
  s.linear_projection = true;
  s.adm_in_channels = 1280 + 6 * 256;  // pooled bigG embedding + 6 time ids x addition_time_embed_dim
  s.text = TextEncoders::ClipLAndOpenClipG;
  s.openclip_width = 1280;
  s.openclip_layers = 32;
  s.openclip_mlp = 5120;
  return s;
}

SdShape SdShape::tiny_sd15() {
  SdShape s;
  s.model_channels = 16;
  s.channel_mult = {1, 1, 2, 2};
  s.context_dim = 16;
  s.vae_channels = 16;
  s.vae_mult = {1, 1, 2, 2};
  s.text_hidden = 16;
  s.text_layers = 3;
  s.text_intermediate = 64;
  return s;
}

SdShape SdShape::tiny_sd2() {
  SdShape s = tiny_sd15();
  s.linear_projection = true;
  s.text = TextEncoders::OpenClip;
  s.openclip_width = 16;
  s.openclip_layers = 4;
  s.openclip_mlp = 64;
  return s;
}

SdShape SdShape::tiny_sdxl() {
  SdShape s = tiny_sd15();
  s.channel_mult = {1, 2, 2};
  s.attention = {false, true, true};
  s.transformer_depth = {1, 2, 3};
  s.mid_transformer_depth = 3;
  s.context_dim = 16 + 24;
  s.linear_projection = true;
  s.adm_in_channels = 24 + 6 * 8;
  s.text = TextEncoders::ClipLAndOpenClipG;
  s.openclip_width = 24;
  s.openclip_layers = 4;
  s.openclip_mlp = 96;
  return s;
}

namespace {

struct Builder {
  std::vector<TensorSpec> specs;
  void weight(const std::string& n, Shape s) {
    specs.push_back({n + ".weight", std::move(s), InitKind::Weight});
  }
  void bias(const std::string& n, int64_t c) { specs.push_back({n + ".bias", {c}, InitKind::Bias}); }
  void linear(const std::string& n, int64_t in, int64_t out, bool with_bias = true) {
    weight(n, {out, in});
    if (with_bias) bias(n, out);
  }
  void conv(const std::string& n, int64_t in, int64_t out, int64_t k) {
    weight(n, {out, in, k, k});
    bias(n, out);
  }
  void norm(const std::string& n, int64_t c) {
    specs.push_back({n + ".weight", {c}, InitKind::Norm});
    bias(n, c);
  }

  // LDM ResBlock (UNet).
  void resblock(const std::string& p, int64_t in, int64_t out, int64_t temb) {
    norm(p + ".in_layers.0", in);
    conv(p + ".in_layers.2", in, out, 3);
    linear(p + ".emb_layers.1", temb, out);
    norm(p + ".out_layers.0", out);
    conv(p + ".out_layers.3", out, out, 3);
    if (in != out) conv(p + ".skip_connection", in, out, 1);
  }
  // LDM SpatialTransformer with `depth` BasicTransformerBlocks.
  void transformer(const std::string& p, int64_t c, int64_t ctx, bool linear_proj, int depth) {
    norm(p + ".norm", c);
    if (linear_proj)
      linear(p + ".proj_in", c, c);
    else
      conv(p + ".proj_in", c, c, 1);
    for (int d = 0; d < depth; ++d) {
      std::string b = p + ".transformer_blocks." + std::to_string(d);
      linear(b + ".attn1.to_q", c, c, false);
      linear(b + ".attn1.to_k", c, c, false);
      linear(b + ".attn1.to_v", c, c, false);
      linear(b + ".attn1.to_out.0", c, c);
      linear(b + ".ff.net.0.proj", c, 8 * c);
      linear(b + ".ff.net.2", 4 * c, c);
      linear(b + ".attn2.to_q", c, c, false);
      linear(b + ".attn2.to_k", ctx, c, false);
      linear(b + ".attn2.to_v", ctx, c, false);
      linear(b + ".attn2.to_out.0", c, c);
      norm(b + ".norm1", c);
      norm(b + ".norm2", c);
      norm(b + ".norm3", c);
    }
    if (linear_proj)
      linear(p + ".proj_out", c, c);
    else
      conv(p + ".proj_out", c, c, 1);
  }
  // VAE ResnetBlock (original names).
  void vae_block(const std::string& p, int64_t in, int64_t out) {
    norm(p + ".norm1", in);
    conv(p + ".conv1", in, out, 3);
    norm(p + ".norm2", out);
    conv(p + ".conv2", out, out, 3);
    if (in != out) conv(p + ".nin_shortcut", in, out, 1);
  }
  void vae_mid(const std::string& p, int64_t c) {
    vae_block(p + ".block_1", c, c);
    norm(p + ".attn_1.norm", c);
    for (const char* n : {"q", "k", "v", "proj_out"}) conv(p + ".attn_1." + n, c, c, 1);
    vae_block(p + ".block_2", c, c);
  }
};

void unet_layout(Builder& b, const SdShape& s) {
  const std::string p = "model.diffusion_model.";
  const int64_t mc = s.model_channels, temb = 4 * mc;
  b.linear(p + "time_embed.0", mc, temb);
  b.linear(p + "time_embed.2", temb, temb);
  if (s.adm_in_channels > 0) {
    b.linear(p + "label_emb.0.0", s.adm_in_channels, temb);
    b.linear(p + "label_emb.0.2", temb, temb);
  }
  b.conv(p + "input_blocks.0.0", s.in_channels, mc, 3);
  std::vector<int64_t> skip_channels = {mc};
  int64_t ch = mc;
  int idx = 1;
  const size_t levels = s.channel_mult.size();
  for (size_t l = 0; l < levels; ++l) {
    int64_t out = mc * s.channel_mult[l];
    for (int r = 0; r < s.res_blocks; ++r, ++idx) {
      std::string blk = p + "input_blocks." + std::to_string(idx);
      b.resblock(blk + ".0", ch, out, temb);
      ch = out;
      if (s.attention[l])
        b.transformer(blk + ".1", ch, s.context_dim, s.linear_projection, s.transformer_depth[l]);
      skip_channels.push_back(ch);
    }
    if (l + 1 < levels) {
      b.conv(p + "input_blocks." + std::to_string(idx) + ".0.op", ch, ch, 3);
      skip_channels.push_back(ch);
      ++idx;
    }
  }
  b.resblock(p + "middle_block.0", ch, ch, temb);
  b.transformer(p + "middle_block.1", ch, s.context_dim, s.linear_projection, s.mid_transformer_depth);
  b.resblock(p + "middle_block.2", ch, ch, temb);
  idx = 0;
  for (size_t li = levels; li-- > 0;) {
    int64_t out = mc * s.channel_mult[li];
    for (int r = 0; r <= s.res_blocks; ++r, ++idx) {
      std::string blk = p + "output_blocks." + std::to_string(idx);
      int64_t skip = skip_channels.back();
      skip_channels.pop_back();
      b.resblock(blk + ".0", ch + skip, out, temb);
      ch = out;
      int sub = 1;
      if (s.attention[li])
        b.transformer(blk + "." + std::to_string(sub++), ch, s.context_dim, s.linear_projection,
                      s.transformer_depth[li]);
      if (li > 0 && r == s.res_blocks) b.conv(blk + "." + std::to_string(sub) + ".conv", ch, ch, 3);
    }
  }
  b.norm(p + "out.0", ch);
  b.conv(p + "out.2", ch, 4, 3);
}

void vae_layout(Builder& b, const SdShape& s) {
  const std::string p = "first_stage_model.";
  const int64_t base = s.vae_channels, z = s.latent_channels;
  const size_t levels = s.vae_mult.size();
  b.conv(p + "encoder.conv_in", 3, base, 3);
  int64_t ch = base;
  for (size_t l = 0; l < levels; ++l) {
    int64_t out = base * s.vae_mult[l];
    for (int r = 0; r < s.vae_res_blocks; ++r) {
      b.vae_block(p + "encoder.down." + std::to_string(l) + ".block." + std::to_string(r), ch, out);
      ch = out;
    }
    if (l + 1 < levels) b.conv(p + "encoder.down." + std::to_string(l) + ".downsample.conv", ch, ch, 3);
  }
  b.vae_mid(p + "encoder.mid", ch);
  b.norm(p + "encoder.norm_out", ch);
  b.conv(p + "encoder.conv_out", ch, 2 * z, 3);
  b.conv(p + "quant_conv", 2 * z, 2 * z, 1);
  b.conv(p + "post_quant_conv", z, z, 1);
  ch = base * s.vae_mult.back();
  b.conv(p + "decoder.conv_in", z, ch, 3);
  b.vae_mid(p + "decoder.mid", ch);
  for (size_t l = levels; l-- > 0;) {
    int64_t out = base * s.vae_mult[l];
    for (int r = 0; r <= s.vae_res_blocks; ++r) {
      b.vae_block(p + "decoder.up." + std::to_string(l) + ".block." + std::to_string(r), ch, out);
      ch = out;
    }
    if (l > 0) b.conv(p + "decoder.up." + std::to_string(l) + ".upsample.conv", ch, ch, 3);
  }
  b.norm(p + "decoder.norm_out", ch);
  b.conv(p + "decoder.conv_out", ch, 3, 3);
}

void clip_text_layout(Builder& b, const SdShape& s, const std::string& p) {
  const int64_t h = s.text_hidden;
  b.specs.push_back({p + "embeddings.token_embedding.weight", {s.vocab, h}, InitKind::Embedding});
  b.specs.push_back({p + "embeddings.position_embedding.weight", {s.text_positions, h}, InitKind::Embedding});
  for (int l = 0; l < s.text_layers; ++l) {
    std::string L = p + "encoder.layers." + std::to_string(l);
    b.norm(L + ".layer_norm1", h);
    for (const char* n : {"q_proj", "k_proj", "v_proj", "out_proj"}) b.linear(L + ".self_attn." + n, h, h);
    b.norm(L + ".layer_norm2", h);
    b.linear(L + ".mlp.fc1", h, s.text_intermediate);
    b.linear(L + ".mlp.fc2", s.text_intermediate, h);
  }
  b.norm(p + "final_layer_norm", h);
}

// OpenCLIP's text tower as SD 2.x / SDXL checkpoints store it (q, k, v fused in in_proj).
void openclip_text_layout(Builder& b, const SdShape& s, const std::string& p, bool logit_scale) {
  const int64_t w = s.openclip_width;
  b.specs.push_back({p + "token_embedding.weight", {s.vocab, w}, InitKind::Embedding});
  b.specs.push_back({p + "positional_embedding", {s.text_positions, w}, InitKind::Embedding});
  for (int l = 0; l < s.openclip_layers; ++l) {
    const std::string L = p + "transformer.resblocks." + std::to_string(l);
    b.norm(L + ".ln_1", w);
    b.specs.push_back({L + ".attn.in_proj_weight", {3 * w, w}, InitKind::Weight});
    b.specs.push_back({L + ".attn.in_proj_bias", {3 * w}, InitKind::Bias});
    b.linear(L + ".attn.out_proj", w, w);
    b.norm(L + ".ln_2", w);
    b.linear(L + ".mlp.c_fc", w, s.openclip_mlp);
    b.linear(L + ".mlp.c_proj", s.openclip_mlp, w);
  }
  b.norm(p + "ln_final", w);
  b.specs.push_back({p + "text_projection", {w, w}, InitKind::Weight});
  if (logit_scale) b.specs.push_back({p + "logit_scale", {}, InitKind::Bias});
}

void text_layout(Builder& b, const SdShape& s) {
  switch (s.text) {
    case TextEncoders::ClipL:
      clip_text_layout(b, s, "cond_stage_model.transformer.text_model.");
      break;
    case TextEncoders::OpenClip:
      openclip_text_layout(b, s, "cond_stage_model.model.", true);
      break;
    case TextEncoders::ClipLAndOpenClipG:
      clip_text_layout(b, s, "conditioner.embedders.0.transformer.text_model.");
      openclip_text_layout(b, s, "conditioner.embedders.1.model.", false);
      break;
  }
}

// splitmix64: a tiny, fast, well-mixed generator; the weights only need to be deterministic.
uint64_t splitmix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

std::vector<TensorSpec> sd_checkpoint_layout(const SdShape& shape) {
  Builder b;
  unet_layout(b, shape);
  vae_layout(b, shape);
  text_layout(b, shape);
  return b.specs;
}

int64_t checkpoint_parameter_count(const SdShape& shape) {
  int64_t n = 0;
  for (const auto& s : sd_checkpoint_layout(shape)) n += shape_numel(s.shape);
  return n;
}

Tensor random_tensor(const TensorSpec& spec, DType dtype, uint64_t seed) {
  uint64_t state = seed ^ std::hash<std::string>{}(spec.name);
  int64_t n = shape_numel(spec.shape);
  int64_t fan_in = spec.shape.size() > 1 ? n / spec.shape[0] : 1;
  float mean = 0, stddev = 0.05f;
  switch (spec.init) {
    case InitKind::Weight:
      stddev = 1.0f / std::sqrt(static_cast<float>(std::max<int64_t>(fan_in, 1)));
      break;
    case InitKind::Bias:
      stddev = 0.05f;
      break;
    case InitKind::Norm:
      mean = 1.0f;
      stddev = 0.1f;
      break;
    case InitKind::Embedding:
      stddev = 0.5f;
      break;
  }
  // Sum of four uniforms, rescaled to unit variance: cheap and close enough to normal for random weights.
  std::vector<float> v(static_cast<size_t>(n));
  const float k = std::sqrt(3.0f) / 2.0f;  // 4 uniforms on [-1, 1] have variance 4/3
  for (auto& x : v) {
    uint64_t r = splitmix(state);
    float s = 0;
    for (int i = 0; i < 4; ++i) s += static_cast<float>((r >> (16 * i)) & 0xffff) / 32767.5f - 1.0f;
    x = mean + stddev * s * k;
  }
  Tensor t = Tensor::empty(spec.shape, dtype);
  convert_from_f32(v.data(), t.raw(), dtype, v.size());
  return t;
}

void write_random_checkpoint(const std::filesystem::path& path, const SdShape& shape, DType dtype,
                             uint64_t seed) {
  auto specs = sd_checkpoint_layout(shape);
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  header["__metadata__"] = {{"format", "pt"}, {"i2i", "random weights"}};
  size_t offset = 0;
  for (const auto& s : specs) {
    size_t bytes = static_cast<size_t>(shape_numel(s.shape)) * dtype_size(dtype);
    header[s.name] = {{"dtype", std::string(dtype_name(dtype))},
                      {"shape", s.shape},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string h = header.dump();
  while (h.size() % 8 != 0) h.push_back(' ');
  TempFile out(path);  // removed on an error, Ctrl-C or kill (io/temp_files.h)
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(static_cast<uint64_t>(h.size()) >> (8 * i));
  out.write(len, sizeof len);
  out.write(h.data(), h.size());
  for (const auto& s : specs) {
    Tensor t = random_tensor(s, dtype, seed);
    out.write(t.raw(), t.nbytes());
  }
  out.commit();
}

Weights random_checkpoint_weights(const SdShape& shape, DType dtype, uint64_t seed,
                                  const std::vector<std::string>& prefixes) {
  Weights w("random checkpoint");
  for (const auto& s : sd_checkpoint_layout(shape)) {
    const bool wanted = prefixes.empty() || std::any_of(prefixes.begin(), prefixes.end(), [&](const auto& p) {
                          return s.name.rfind(p, 0) == 0;
                        });
    if (wanted) w.add(s.name, random_tensor(s, dtype, seed));
  }
  return w;
}

std::vector<TensorSpec> clip_vision_layout(const ClipVisionConfig& c) {
  Builder b;
  const int64_t h = c.hidden_size;
  const std::string p = "vision_model.";
  b.specs.push_back({p + "embeddings.class_embedding", {h}, InitKind::Embedding});
  b.specs.push_back({p + "embeddings.patch_embedding.weight",
                     {h, c.num_channels, c.patch_size, c.patch_size},
                     InitKind::Weight});
  b.specs.push_back({p + "embeddings.position_embedding.weight", {c.num_tokens(), h}, InitKind::Embedding});
  b.norm(p + "pre_layrnorm", h);
  for (int l = 0; l < c.num_layers; ++l) {
    const std::string L = p + "encoder.layers." + std::to_string(l);
    b.norm(L + ".layer_norm1", h);
    for (const char* n : {"q_proj", "k_proj", "v_proj", "out_proj"}) b.linear(L + ".self_attn." + n, h, h);
    b.norm(L + ".layer_norm2", h);
    b.linear(L + ".mlp.fc1", h, c.intermediate_size);
    b.linear(L + ".mlp.fc2", c.intermediate_size, h);
  }
  b.norm(p + "post_layernorm", h);
  if (c.projection_dim > 0) b.linear("visual_projection", h, c.projection_dim, false);
  return b.specs;
}

Weights random_clip_vision_weights(const ClipVisionConfig& config, DType dtype, uint64_t seed) {
  Weights w("random CLIP vision encoder");
  for (const auto& s : clip_vision_layout(config)) w.add(s.name, random_tensor(s, dtype, seed));
  return w;
}

Weights random_openpose_body_weights(const OpenposeBodyConfig& config, DType dtype, uint64_t seed) {
  Weights w("random OpenPose body model");
  for (const auto& [name, shape] : openpose_body_layout(config)) {
    const bool bias = shape.size() == 1;
    w.add(name, random_tensor({name, shape, bias ? InitKind::Bias : InitKind::Weight}, dtype, seed));
  }
  return w;
}

}  // namespace i2i
