#!/usr/bin/env python3
"""PyTorch CPU side of issue 16's comparison: the SD 1.5 UNet CFG step (batch 2, 64x64 latent, 77 tokens) and
the VAE encode / decode at 512x512, random weights, in PyTorch's fastest CPU mode (weights cast to the
precision, channels_last, torch.no_grad), timed like `i2i bench` (one warm-up, median of --runs).

usage: python3 bench/torch_unet_vae.py [--precision bf16|fp32] [--runs 3] [--threads 2]
                                       [--stages unet_cfg_step,vae_encode,vae_decode] [--impl auto|diffusers|builtin]

Needs only Debian's python3-torch (`apt-get install python3-torch`; PyTorch 1.13 on Debian 12). The models are
diffusers' architectures built from SD 1.5's configs: with diffusers importable (--impl auto/diffusers, e.g.
inside the reference environment of /work/shared/reference, whose peers/torch_bench.py times the same three
stages that way) its UNet2DConditionModel / AutoencoderKL are used; otherwise (--impl builtin) the compact
re-implementation below, which has the same layers, the same parameter counts (UNet 859,520,964, VAE
83,653,863; checked at start) and the same operations per layer as diffusers 0.27's modules on PyTorch 1.13
(attention as AttnProcessor: batched matmul, softmax, batched matmul). Nothing is downloaded.
Prints one JSON line: {"<stage>": {"seconds": median, "all": [...]}, "precision": ..., "impl": ...,
"threads": ..., "torch": ..., "peak_rss_mb": ...}.
"""
import argparse
import json
import math
import resource
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

UNET_PARAMS, VAE_PARAMS = 859_520_964, 83_653_863  # diffusers' SD 1.5 UNet and VAE


# ---- diffusers-architecture building blocks (the module names follow diffusers') -------------------------------
class ResnetBlock2D(nn.Module):
    def __init__(self, cin, cout, temb=None, eps=1e-5):
        super().__init__()
        self.norm1 = nn.GroupNorm(32, cin, eps=eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, cout) if temb else None
        self.norm2 = nn.GroupNorm(32, cout, eps=eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb=None):
        h = self.conv1(F.silu(self.norm1(x)))
        if self.time_emb_proj is not None:
            h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.conv_shortcut(x) if self.conv_shortcut is not None else x) + h


class Attention(nn.Module):
    def __init__(self, dim, heads, context_dim=None, bias=False):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.to_q = nn.Linear(dim, dim, bias=bias)
        self.to_k = nn.Linear(context_dim or dim, dim, bias=bias)
        self.to_v = nn.Linear(context_dim or dim, dim, bias=bias)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim)])

    def forward(self, x, context=None):  # x [B, N, C]
        b, n, c = x.shape
        ctx = x if context is None else context
        h = self.heads

        def split(t):
            return t.reshape(b, -1, h, c // h).permute(0, 2, 1, 3).reshape(b * h, -1, c // h)

        q, k, v = split(self.to_q(x)), split(self.to_k(ctx)), split(self.to_v(ctx))
        p = torch.baddbmm(torch.empty(q.shape[0], q.shape[1], k.shape[1], dtype=q.dtype), q, k.transpose(1, 2),
                          beta=0, alpha=self.scale).softmax(dim=-1)
        o = torch.bmm(p, v).reshape(b, h, n, c // h).permute(0, 2, 1, 3).reshape(b, n, c)
        return self.to_out[0](o)


class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x):
        a, gate = self.proj(x).chunk(2, dim=-1)
        return a * F.gelu(gate)


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, heads, context_dim):
        super().__init__()
        self.norm1, self.attn1 = nn.LayerNorm(dim), Attention(dim, heads)
        self.norm2, self.attn2 = nn.LayerNorm(dim), Attention(dim, heads, context_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = nn.Module()
        self.ff.net = nn.ModuleList([GEGLU(dim, 4 * dim), nn.Dropout(0.0), nn.Linear(4 * dim, dim)])

    def forward(self, x, context):
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), context) + x
        y = self.norm3(x)
        for m in self.ff.net:
            y = m(y)
        return y + x


class Transformer2DModel(nn.Module):  # SD 1.5: 1x1 convolutions as proj_in / proj_out, one block
    def __init__(self, dim, heads, context_dim):
        super().__init__()
        self.norm = nn.GroupNorm(32, dim, eps=1e-6)
        self.proj_in = nn.Conv2d(dim, dim, 1)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(dim, heads, context_dim)])
        self.proj_out = nn.Conv2d(dim, dim, 1)

    def forward(self, x, context):
        b, c, hh, ww = x.shape
        h = self.proj_in(self.norm(x)).permute(0, 2, 3, 1).reshape(b, hh * ww, c)
        for blk in self.transformer_blocks:
            h = blk(h, context)
        h = h.reshape(b, hh, ww, c).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
        return self.proj_out(h) + x


class Downsample2D(nn.Module):
    def __init__(self, c, padding=1):
        super().__init__()
        self.padding = padding
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=padding)

    def forward(self, x):
        if self.padding == 0:  # the VAE encoder pads right and bottom only
            x = F.pad(x, (0, 1, 0, 1))
        return self.conv(x)


class Upsample2D(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Block(nn.Module):  # a UNet down / up block: resnets, optional attentions, optional resampler
    def __init__(self, resnets, attentions, sampler, sampler_name):
        super().__init__()
        self.resnets = nn.ModuleList(resnets)
        self.attentions = nn.ModuleList(attentions) if attentions else None
        setattr(self, sampler_name, nn.ModuleList([sampler]) if sampler is not None else None)


class UNet2DConditionModel(nn.Module):
    """diffusers' UNet2DConditionModel with SD 1.5's config (block_out_channels 320/640/1280/1280,
    layers_per_block 2, attention_head_dim 8 (= 8 heads), cross_attention_dim 768)."""

    def __init__(self, ch=(320, 640, 1280, 1280), attn=(True, True, True, False), layers=2, heads=8, ctx=768):
        super().__init__()
        temb = ch[0] * 4
        self.ch0 = ch[0]
        self.time_embedding = nn.Module()
        self.time_embedding.linear_1, self.time_embedding.linear_2 = nn.Linear(ch[0], temb), nn.Linear(temb, temb)
        self.conv_in = nn.Conv2d(4, ch[0], 3, padding=1)
        self.down_blocks, skips, out = nn.ModuleList(), [ch[0]], ch[0]
        for i, c in enumerate(ch):
            last = i == len(ch) - 1
            res, att = [], []
            for j in range(layers):
                res.append(ResnetBlock2D(out if j == 0 else c, c, temb))
                if attn[i]:
                    att.append(Transformer2DModel(c, heads, ctx))
                skips.append(c)
            out = c
            if not last:
                skips.append(c)
            self.down_blocks.append(Block(res, att, None if last else Downsample2D(c), "downsamplers"))
        self.mid_block = nn.Module()
        self.mid_block.resnets = nn.ModuleList([ResnetBlock2D(ch[-1], ch[-1], temb), ResnetBlock2D(ch[-1], ch[-1], temb)])
        self.mid_block.attentions = nn.ModuleList([Transformer2DModel(ch[-1], heads, ctx)])
        self.up_blocks, rev, prev = nn.ModuleList(), list(reversed(ch)), ch[-1]
        for i, c in enumerate(rev):
            last = i == len(ch) - 1
            res, att = [], []
            for j in range(layers + 1):
                res.append(ResnetBlock2D((prev if j == 0 else c) + skips.pop(), c, temb))
                if list(reversed(attn))[i]:
                    att.append(Transformer2DModel(c, heads, ctx))
            prev = c
            self.up_blocks.append(Block(res, att, None if last else Upsample2D(c), "upsamplers"))
        self.conv_norm_out = nn.GroupNorm(32, ch[0], eps=1e-5)
        self.conv_out = nn.Conv2d(ch[0], 4, 3, padding=1)

    def forward(self, x, t, context):
        half = self.ch0 // 2  # Timesteps(320, flip_sin_to_cos=True, downscale_freq_shift=0)
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
        args = t.float().reshape(-1)[:, None] * freqs[None]
        emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1).to(x.dtype).expand(x.shape[0], -1)
        temb = self.time_embedding.linear_2(F.silu(self.time_embedding.linear_1(emb)))
        h = self.conv_in(x)
        stack = [h]
        for blk in self.down_blocks:
            for j, r in enumerate(blk.resnets):
                h = r(h, temb)
                if blk.attentions is not None:
                    h = blk.attentions[j](h, context)
                stack.append(h)
            if blk.downsamplers is not None:
                h = blk.downsamplers[0](h)
                stack.append(h)
        h = self.mid_block.resnets[0](h, temb)
        h = self.mid_block.attentions[0](h, context)
        h = self.mid_block.resnets[1](h, temb)
        for blk in self.up_blocks:
            for j, r in enumerate(blk.resnets):
                h = r(torch.cat([h, stack.pop()], dim=1), temb)
                if blk.attentions is not None:
                    h = blk.attentions[j](h, context)
            if blk.upsamplers is not None:
                h = blk.upsamplers[0](h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


class VaeAttention(nn.Module):  # the VAE mid block's single-head attention (group norm, residual)
    def __init__(self, c):
        super().__init__()
        self.group_norm = nn.GroupNorm(32, c, eps=1e-6)
        self.attn = Attention(c, 1, bias=True)

    def forward(self, x):
        b, c, hh, ww = x.shape
        h = self.group_norm(x).permute(0, 2, 3, 1).reshape(b, hh * ww, c)
        h = self.attn(h).reshape(b, hh, ww, c).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
        return h + x


class VaeMid(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(c, c, eps=1e-6), ResnetBlock2D(c, c, eps=1e-6)])
        self.attentions = nn.ModuleList([VaeAttention(c)])

    def forward(self, x):
        return self.resnets[1](self.attentions[0](self.resnets[0](x)))


class AutoencoderKL(nn.Module):
    """diffusers' AutoencoderKL with SD's config (block_out_channels 128/256/512/512, layers_per_block 2,
    latent_channels 4)."""

    def __init__(self, ch=(128, 256, 512, 512), layers=2, latent=4):
        super().__init__()
        enc = self.encoder = nn.Module()
        enc.conv_in = nn.Conv2d(3, ch[0], 3, padding=1)
        enc.down_blocks, out = nn.ModuleList(), ch[0]
        for i, c in enumerate(ch):
            last = i == len(ch) - 1
            res = [ResnetBlock2D(out if j == 0 else c, c, eps=1e-6) for j in range(layers)]
            out = c
            enc.down_blocks.append(Block(res, None, None if last else Downsample2D(c, padding=0), "downsamplers"))
        enc.mid_block = VaeMid(ch[-1])
        enc.conv_norm_out, enc.conv_out = nn.GroupNorm(32, ch[-1], eps=1e-6), nn.Conv2d(ch[-1], 2 * latent, 3, padding=1)
        self.quant_conv = nn.Conv2d(2 * latent, 2 * latent, 1)
        self.post_quant_conv = nn.Conv2d(latent, latent, 1)
        dec = self.decoder = nn.Module()
        dec.conv_in = nn.Conv2d(latent, ch[-1], 3, padding=1)
        dec.mid_block = VaeMid(ch[-1])
        dec.up_blocks, prev = nn.ModuleList(), ch[-1]
        for i, c in enumerate(reversed(ch)):
            last = i == len(ch) - 1
            res = [ResnetBlock2D(prev if j == 0 else c, c, eps=1e-6) for j in range(layers + 1)]
            prev = c
            dec.up_blocks.append(Block(res, None, None if last else Upsample2D(c), "upsamplers"))
        dec.conv_norm_out, dec.conv_out = nn.GroupNorm(32, ch[0], eps=1e-6), nn.Conv2d(ch[0], 3, 3, padding=1)
        self.latent = latent

    @staticmethod
    def _blocks(h, blocks, sampler):
        for blk in blocks:
            for r in blk.resnets:
                h = r(h)
            s = getattr(blk, sampler)
            if s is not None:
                h = s[0](h)
        return h

    def encode_mean(self, x):  # vae.encode(x).latent_dist.mean
        e = self.encoder
        h = self._blocks(e.conv_in(x), e.down_blocks, "downsamplers")
        h = e.conv_out(F.silu(e.conv_norm_out(e.mid_block(h))))
        return self.quant_conv(h)[:, : self.latent]

    def decode(self, z):  # vae.decode(z).sample
        d = self.decoder
        h = d.mid_block(d.conv_in(self.post_quant_conv(z)))
        h = self._blocks(h, d.up_blocks, "upsamplers")
        return d.conv_out(F.silu(d.conv_norm_out(h)))


# ---- the models, from diffusers when it is there -----------------------------------------------------------------
def build_models(impl, need_unet, need_vae):
    if impl in ("auto", "diffusers"):
        try:
            from diffusers import AutoencoderKL as DAutoencoderKL, UNet2DConditionModel as DUNet
        except ImportError:
            if impl == "diffusers":
                raise
        else:
            unet = DUNet(sample_size=64, cross_attention_dim=768, attention_head_dim=8,
                         block_out_channels=(320, 640, 1280, 1280), layers_per_block=2) if need_unet else None
            vae = DAutoencoderKL(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
                                 down_block_types=("DownEncoderBlock2D",) * 4,
                                 up_block_types=("UpDecoderBlock2D",) * 4, sample_size=512) if need_vae else None
            return "diffusers", unet, vae, (lambda x, t, c: unet(x, t, encoder_hidden_states=c).sample), \
                (lambda x: vae.encode(x).latent_dist.mean), (lambda z: vae.decode(z).sample)
    unet = UNet2DConditionModel() if need_unet else None
    vae = AutoencoderKL() if need_vae else None
    return "builtin", unet, vae, (lambda x, t, c: unet(x, t, c)), (lambda x: vae.encode_mean(x)), \
        (lambda z: vae.decode(z))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--precision", default="bf16", choices=["bf16", "fp32"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stages", default="unet_cfg_step,vae_encode,vae_decode")
    ap.add_argument("--impl", default="auto", choices=["auto", "diffusers", "builtin"])
    a = ap.parse_args()
    stages = [s for s in a.stages.split(",") if s]
    for s in stages:
        if s not in ("unet_cfg_step", "vae_encode", "vae_decode"):
            ap.error(f"unknown stage '{s}' (unet_cfg_step, vae_encode, vae_decode)")
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dt = torch.bfloat16 if a.precision == "bf16" else torch.float32
    out = {}

    def timed(name, fn):
        fn()  # warm-up
        ts = []
        for _ in range(a.runs):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        out[name] = {"seconds": statistics.median(ts), "all": ts}

    need_unet = "unet_cfg_step" in stages
    need_vae = "vae_encode" in stages or "vae_decode" in stages
    with torch.no_grad():
        impl, unet, vae, unet_fn, enc_fn, dec_fn = build_models(a.impl, need_unet, need_vae)
        for m, want, name in ((unet, UNET_PARAMS, "UNet"), (vae, VAE_PARAMS, "VAE")):
            if m is not None:
                n = sum(p.numel() for p in m.parameters())
                if n != want:
                    raise SystemExit(f"torch_unet_vae.py: the {impl} {name} has {n} parameters, expected {want}")
        cl = torch.channels_last
        if unet is not None:
            unet = unet.to(dt).to(memory_format=cl).eval()
            x = torch.randn(2, 4, 64, 64, dtype=dt).to(memory_format=cl)
            ctx = torch.randn(2, 77, 768, dtype=dt)
            t = torch.tensor([500])
            timed("unet_cfg_step", lambda: unet_fn(x, t, ctx))
            del unet
        if vae is not None:
            vae = vae.to(dt).to(memory_format=cl).eval()
            img = torch.randn(1, 3, 512, 512, dtype=dt).to(memory_format=cl)
            lat = torch.randn(1, 4, 64, 64, dtype=dt).to(memory_format=cl)
            if "vae_encode" in stages:
                timed("vae_encode", lambda: enc_fn(img))
            if "vae_decode" in stages:
                timed("vae_decode", lambda: dec_fn(lat))
    out.update(precision=a.precision, impl=impl, threads=a.threads, torch=torch.__version__,
               peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
