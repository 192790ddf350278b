#!/usr/bin/env python3
"""Writes a full-size random IP-Adapter plus for SD 1.5 and a CLIP ViT-H/14 image encoder in h94's layout,
for memory and speed runs (bench/ip_adapter_rss.sh): OUT/models/ip-adapter-plus_sd15.safetensors and
OUT/models/image_encoder/{config.json,model.safetensors}, float16. Weights are small random values (a 64 KiB
block of N(0, 0.02) values repeated), LayerNorm weights 1: shapes and sizes are the real files', values are
not. Python standard library only.

  python3 bench/make_random_ip_adapter.py OUT_DIR
"""
import json
import os
import random
import struct
import sys

D, E, HEADS, FF = 768, 1280, 12, 3072  # SD 1.5 cross-attention width, ViT-H width, resampler heads, FFN
rng = random.Random(0)
BLOCK = struct.pack("<32768e", *[rng.gauss(0.0, 0.02) for _ in range(32768)])
ONES = struct.pack("<e", 1.0) * 32768


def write_safetensors(path, tensors):
    """tensors: list of (name, shape, kind) with kind 'w' (random) or 'one' (LayerNorm weight)."""
    header, offset = {}, 0
    for name, shape, _ in tensors:
        n = 2
        for s in shape:
            n *= s
        header[name] = {"dtype": "F16", "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for name, shape, kind in tensors:
            n = 2
            for s in shape:
                n *= s
            src = ONES if kind == "one" else BLOCK
            while n > 0:
                k = min(n, len(src))
                f.write(src[:k])
                n -= k
    os.replace(tmp, path)


def layer_norm(prefix, dim):
    return [(prefix + ".weight", [dim], "one"), (prefix + ".bias", [dim], "w")]


def linear(prefix, out, inp, bias=True):
    return [(prefix + ".weight", [out, inp], "w")] + ([(prefix + ".bias", [out], "w")] if bias else [])


def adapter():
    t = [("image_proj.latents", [1, 16, D], "w")]
    t += linear("image_proj.proj_in", D, E) + linear("image_proj.proj_out", D, D) + layer_norm("image_proj.norm_out", D)
    for i in range(4):
        p = "image_proj.layers.%d." % i
        t += layer_norm(p + "0.norm1", D) + layer_norm(p + "0.norm2", D)
        t += linear(p + "0.to_q", 64 * HEADS, D, False) + linear(p + "0.to_kv", 2 * 64 * HEADS, D, False)
        t += linear(p + "0.to_out", D, 64 * HEADS, False)
        t += layer_norm(p + "1.0", D) + linear(p + "1.1", FF, D, False) + linear(p + "1.3", D, FF, False)
    # attn2 of every transformer block in diffusers' attn_processors order: down, up, mid (N odd).
    widths = [320, 320, 640, 640, 1280, 1280] + [1280] * 3 + [640] * 3 + [320] * 3 + [1280]
    for j, w in enumerate(widths):
        n = 2 * j + 1
        t += linear("ip_adapter.%d.to_k_ip" % n, w, D, False) + linear("ip_adapter.%d.to_v_ip" % n, w, D, False)
    return t


def encoder():
    p = "vision_model."
    t = [(p + "embeddings.class_embedding", [E], "w"), (p + "embeddings.patch_embedding.weight", [E, 3, 14, 14], "w"),
         (p + "embeddings.position_embedding.weight", [257, E], "w")]
    t += layer_norm(p + "pre_layrnorm", E)
    for i in range(32):
        q = p + "encoder.layers.%d." % i
        t += layer_norm(q + "layer_norm1", E)
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            t += linear(q + "self_attn." + n, E, E)
        t += layer_norm(q + "layer_norm2", E) + linear(q + "mlp.fc1", 5120, E) + linear(q + "mlp.fc2", E, 5120)
    t += layer_norm(p + "post_layernorm", E) + linear("visual_projection", 1024, E, False)
    return t


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(os.path.join(out, "models", "image_encoder"), exist_ok=True)
    write_safetensors(os.path.join(out, "models", "ip-adapter-plus_sd15.safetensors"), adapter())
    config = {"architectures": ["CLIPVisionModelWithProjection"], "model_type": "clip_vision_model",
              "hidden_act": "gelu", "hidden_size": E, "image_size": 224, "intermediate_size": 5120,
              "layer_norm_eps": 1e-05, "num_attention_heads": 16, "num_channels": 3, "num_hidden_layers": 32,
              "patch_size": 14, "projection_dim": 1024, "torch_dtype": "float16"}
    with open(os.path.join(out, "models", "image_encoder", "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    write_safetensors(os.path.join(out, "models", "image_encoder", "model.safetensors"), encoder())


if __name__ == "__main__":
    main()
