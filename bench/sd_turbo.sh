#!/usr/bin/env bash
# SD-Turbo's img2img as its model card runs it (2 steps, strength 0.5, guidance 0, trailing timesteps: one
# UNet pass at t = 499) at 512x512 on random SD 2.1-shaped weights (`i2i random-model --shape sd21`, a
# 2.6 GB fp16 file): the whole `i2i img2img` run (load, encode, one step, decode, PNG) in bf16, and the
# in-process time of the same run without the loading (`i2i bench --stages turbo_img2img`).
#
#   bench/sd_turbo.sh [BUILD_DIR] [WORK_DIR]      (defaults: build, /tmp/i2i-sd-turbo; delete WORK_DIR after)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
work=${2:-/tmp/i2i-sd-turbo}
fixtures=../shared/fixtures
mkdir -p "$work"
[ -f "$work/sd21.safetensors" ] || "$build/i2i" random-model "$work/sd21.safetensors" --shape sd21
grep -m1 "model name" /proc/cpuinfo
for i in 1 2 3; do
  /usr/bin/time -f "%M %e" -o "$work/time.txt" "$build/i2i" img2img --model "$work/sd21.safetensors" \
    --tokenizer "$fixtures/tokenizer" --init "$fixtures/images/chelsea_512.png" --prompt "a cat" \
    --scheduler trailing --steps 2 --strength 0.5 --cfg-scale 0 --seed 1 --precision bf16 --quiet \
    --overwrite -o "$work/turbo.png" >/dev/null
  read -r kb secs <"$work/time.txt"
  printf 'SD-Turbo 512x512 img2img, whole run %d: wall %5.1f s, peak RSS %5.2f GiB\n' "$i" "$secs" \
    "$(echo "$kb / 1048576" | bc -l)"
done
"$build/i2i" bench --model "$work/sd21.safetensors" --tokenizer "$fixtures/tokenizer" --precision bf16 \
  --stages turbo_img2img --quiet
