#!/usr/bin/env bash
# Peak RSS of a 512x512 img2img with a full-size SD 1.5 + IP-Adapter plus + CLIP ViT-H/14 in bf16 (issue 11's
# target: < 4.5 GB), beside the same run without the adapter. Random weights of the real sizes: the SD 1.5
# file from `i2i random-model`, the adapter and encoder from bench/make_random_ip_adapter.py.
#
#   bench/ip_adapter_rss.sh [BUILD_DIR] [WORK_DIR]      (defaults: build, /tmp/i2i-ip-rss)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
work=${2:-/tmp/i2i-ip-rss}
fixtures=../shared/fixtures
mkdir -p "$work"
[ -f "$work/sd15.safetensors" ] || "$build/i2i" random-model "$work/sd15.safetensors"
[ -f "$work/ipa/models/image_encoder/model.safetensors" ] || python3 bench/make_random_ip_adapter.py "$work/ipa"
grep -m1 "model name" /proc/cpuinfo
common=(img2img --model "$work/sd15.safetensors" --tokenizer "$fixtures/tokenizer" --init "$fixtures/images/chelsea_512.png"
  --prompt "a cat" --strength 0.5 --steps 2 --seed 1 --precision bf16 --quiet --overwrite)
run() {  # label, extra args...
  local label=$1
  shift
  /usr/bin/time -f "%M %e" -o "$work/time.txt" "$build/i2i" "${common[@]}" "$@" >/dev/null
  read -r kb secs <"$work/time.txt"
  printf '%-28s peak RSS %6.2f GB  wall %6.1f s\n' "$label" "$(echo "$kb / 1048576" | bc -l)" "$secs"
}
run "img2img (1 step)" -o "$work/plain.png"
run "img2img + IP-Adapter plus" --ip-adapter "$work/ipa/models/ip-adapter-plus_sd15.safetensors" \
  --ip-adapter-image "$fixtures/images/chelsea_512.png" -o "$work/ip.png"
