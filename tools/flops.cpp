#include "tools/flops.h"

#include <vector>

namespace i2i::bench {
namespace {

double conv(int64_t n, int64_t oh, int64_t ow, int64_t cin, int64_t cout, int64_t k) {
  return 2.0 * static_cast<double>(n * oh * ow) * static_cast<double>(cout) *
         static_cast<double>(cin * k * k);
}
double linear(int64_t m, int64_t in, int64_t out) {
  return 2.0 * static_cast<double>(m) * static_cast<double>(in) * static_cast<double>(out);
}
// Q K^T and P V over all heads: 2 * Tq * Tk * C each.
double attention(int64_t batch, int64_t tq, int64_t tk, int64_t c) {
  return 4.0 * static_cast<double>(batch * tq) * static_cast<double>(tk) * static_cast<double>(c);
}

// Resnet: conv1 3x3, (time projection), conv2 3x3, 1x1 shortcut when the width changes.
double resnet(int64_t n, int64_t h, int64_t w, int64_t in, int64_t out, int64_t temb) {
  double f = conv(n, h, w, in, out, 3) + conv(n, h, w, out, out, 3);
  if (temb > 0) f += linear(n, temb, out);
  if (in != out) f += conv(n, h, w, in, out, 1);
  return f;
}

// Transformer2D with `depth` BasicTransformerBlocks (self-attention, cross-attention, GEGLU feed-forward).
double transformer(int64_t n, int64_t h, int64_t w, int64_t c, int depth, int64_t ctx_len, int64_t ctx_dim) {
  const int64_t t = h * w, m = n * t;
  double f = 2 * linear(m, c, c);  // proj_in, proj_out
  for (int d = 0; d < depth; ++d) {
    f += 4 * linear(m, c, c) + attention(n, t, t, c);                                              // attn1
    f += 2 * linear(m, c, c) + 2 * linear(n * ctx_len, ctx_dim, c) + attention(n, t, ctx_len, c);  // attn2
    f += linear(m, c, 8 * c) + linear(m, 4 * c, c);                                                // GEGLU ff
  }
  return f;
}

}  // namespace

double unet_forward_flops(const UNetConfig& c, int64_t n, int64_t h, int64_t w, int64_t ctx_len) {
  const auto& ch = c.block_out_channels;
  const int levels = c.levels();
  const int64_t temb = c.time_embed_dim, cd = c.cross_attention_dim;
  double f = linear(n, c.time_proj_dim, temb) + linear(n, temb, temb);  // time MLP
  f += conv(n, h, w, c.in_channels, ch[0], 3);
  std::vector<int64_t> skips = {ch[0]};
  std::vector<int64_t> hs = {h}, ws = {w};  // latent size per level
  for (int i = 0; i < levels; ++i) {
    int64_t in = i == 0 ? ch[0] : ch[i - 1];
    for (int j = 0; j < c.layers_per_block; ++j) {
      f += resnet(n, h, w, j == 0 ? in : ch[i], ch[i], temb);
      if (c.cross_attention[i]) f += transformer(n, h, w, ch[i], c.transformer_depth[i], ctx_len, cd);
      skips.push_back(ch[i]);
    }
    if (i != levels - 1) {
      h = (h + 1) / 2;
      w = (w + 1) / 2;
      f += conv(n, h, w, ch[i], ch[i], 3);  // stride-2 downsample, counted at the output size
      skips.push_back(ch[i]);
      hs.push_back(h);
      ws.push_back(w);
    }
  }
  const int64_t top = ch[levels - 1];
  f += 2 * resnet(n, h, w, top, top, temb) + transformer(n, h, w, top, c.mid_transformer_depth, ctx_len, cd);
  int64_t prev = top;
  for (int i = 0; i < levels; ++i) {
    const int level = levels - 1 - i;
    h = hs[static_cast<size_t>(level)];
    w = ws[static_cast<size_t>(level)];
    for (int j = 0; j <= c.layers_per_block; ++j) {
      const int64_t skip = skips.back();
      skips.pop_back();
      f += resnet(n, h, w, (j == 0 ? prev : ch[level]) + skip, ch[level], temb);
      if (c.cross_attention[level])
        f += transformer(n, h, w, ch[level], c.transformer_depth[level], ctx_len, cd);
    }
    prev = ch[level];
    if (i != levels - 1)
      f += conv(n, hs[static_cast<size_t>(level - 1)], ws[static_cast<size_t>(level - 1)], prev, prev, 3);
  }
  f += conv(n, h, w, ch[0], c.out_channels, 3);
  return f;
}

namespace {

// VAE mid block: resnet, single-head attention with 1x1 projections (q, k, v, out), resnet.
double vae_mid(int64_t n, int64_t h, int64_t w, int64_t c) {
  const int64_t t = h * w;
  return 2 * resnet(n, h, w, c, c, 0) + 4 * linear(n * t, c, c) + attention(n, t, t, c);
}

}  // namespace

double vae_encode_flops(const VaeConfig& c, int64_t n, int64_t h, int64_t w) {
  const auto& ch = c.block_out_channels;
  const int levels = c.levels();
  double f = conv(n, h, w, c.in_channels, ch[0], 3);
  for (int i = 0; i < levels; ++i) {
    for (int j = 0; j < c.layers_per_block; ++j)
      f += resnet(n, h, w, j == 0 ? ch[i == 0 ? 0 : i - 1] : ch[i], ch[i], 0);
    if (i != levels - 1) {
      h /= 2;
      w /= 2;
      f += conv(n, h, w, ch[i], ch[i], 3);
    }
  }
  const int64_t top = ch[levels - 1], l2 = 2 * c.latent_channels;
  f += vae_mid(n, h, w, top) + conv(n, h, w, top, l2, 3) + conv(n, h, w, l2, l2, 1);
  return f;
}

double vae_decode_flops(const VaeConfig& c, int64_t n, int64_t h, int64_t w) {
  const auto& ch = c.block_out_channels;
  const int levels = c.levels();
  const int64_t top = ch[levels - 1], l = c.latent_channels;
  double f = conv(n, h, w, l, l, 1) + conv(n, h, w, l, top, 3) + vae_mid(n, h, w, top);
  int64_t prev = top;
  for (int i = 0; i < levels; ++i) {
    const int64_t out = ch[levels - 1 - i];
    for (int j = 0; j <= c.layers_per_block; ++j) f += resnet(n, h, w, j == 0 ? prev : out, out, 0);
    if (i != levels - 1) {
      h *= 2;
      w *= 2;
      f += conv(n, h, w, out, out, 3);  // after nearest 2x upsampling
    }
    prev = out;
  }
  f += conv(n, h, w, ch[0], c.out_channels, 3);
  return f;
}

double clip_text_flops(const ClipTextConfig& c, int64_t n, int64_t t) {
  const int64_t hd = c.hidden_size, m = n * t;
  double per_layer = 4 * linear(m, hd, hd) + attention(n, t, t, hd) + linear(m, hd, c.intermediate_size) +
                     linear(m, c.intermediate_size, hd);
  double f = per_layer * c.num_layers;
  if (c.projection_dim > 0) f += linear(n, hd, c.projection_dim);
  return f;
}

double clip_vision_flops(const ClipVisionConfig& c, int64_t n) {
  const int64_t hd = c.hidden_size, t = c.num_tokens(), m = n * t;
  const int64_t patches = n * (t - 1);
  double f = linear(patches, c.num_channels * c.patch_size * c.patch_size, hd);
  const double per_layer = 4 * linear(m, hd, hd) + attention(n, t, t, hd) +
                           linear(m, hd, c.intermediate_size) + linear(m, c.intermediate_size, hd);
  f += per_layer * c.num_layers;
  if (c.projection_dim > 0) f += linear(n, hd, c.projection_dim);
  return f;
}

}  // namespace i2i::bench
