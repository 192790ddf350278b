#!/usr/bin/env bash
# Peak RSS of a 1024x1024 SDXL base img2img from an fp16 single file run in bf16 (issue 12's target: < 9 GB),
# with random weights of the real size (`i2i random-model --shape sdxl`: 3.47B parameters, a 6.9 GB file).
# The default is CFG 7 (UNet batch 2) and 2 steps at strength 0.5 (one denoising step); the peak is the
# weights plus one step's activations, so more steps do not raise it.
#
#   bench/sdxl_rss.sh [BUILD_DIR] [WORK_DIR]      (defaults: build, /tmp/i2i-sdxl-rss; delete WORK_DIR after)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
work=${2:-/tmp/i2i-sdxl-rss}
fixtures=../shared/fixtures
mkdir -p "$work"
[ -f "$work/sdxl.safetensors" ] || "$build/i2i" random-model "$work/sdxl.safetensors" --shape sdxl
grep -m1 "model name" /proc/cpuinfo
common=(img2img --model "$work/sdxl.safetensors" --tokenizer "$fixtures/tokenizer"
  --init "$fixtures/images/chelsea_512.png" --width 1024 --height 1024 --prompt "a cat"
  --negative-prompt "blurry" --strength 0.5 --steps 2 --seed 1 --precision bf16 --quiet --overwrite)
run() {  # label, extra args...
  local label=$1
  shift
  /usr/bin/time -f "%M %e" -o "$work/time.txt" "$build/i2i" "${common[@]}" "$@" >/dev/null
  read -r kb secs <"$work/time.txt"
  printf '%-34s peak RSS %6.2f GiB  wall %6.1f s\n' "$label" "$(echo "$kb / 1048576" | bc -l)" "$secs"
}
run "SDXL 1024x1024 img2img, CFG 7" -o "$work/cfg.png"
run "SDXL 1024x1024 img2img, CFG 0" --cfg-scale 0 -o "$work/turbo.png"
