#!/usr/bin/env bash
# Does a program that embeds the library run as fast as the `i2i` command? (The allocator tuning that the
# speed depends on is applied by the library itself, so it must.) Installs the library into a temporary
# prefix, builds bench/embed_img2img.c against it with pkg-config, writes a random-weight SD 1.5-shaped
# checkpoint, then runs the same img2img (WIDTHxHEIGHT, STEPS steps at strength 0.5, DPM++ 2M Karras,
# precision auto) through both, alternately, RUNS times each, plus the embedded program with the tuning
# switched off (I2I_NO_MALLOPT=1) as the control. Prints each run's wall time and peak RSS
# (/usr/bin/time), whether both wrote the same PNG, and the mean ratio embedded / CLI.
# Usage: bench/cli_vs_embedded.sh [RUNS=3] [SIZE=256] [STEPS=10]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
size=${2:-256}
steps=${3:-10}
build=build
fixtures=$(cd .. && pwd)/shared/fixtures
cmake --build "$build" -j"$(nproc)" --target i2i i2i_shared i2i_static >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
libdir=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:PATH=//p' "$build/CMakeCache.txt")
export PKG_CONFIG_PATH=$work/prefix/$libdir/pkgconfig LD_LIBRARY_PATH=$work/prefix/$libdir
cc -std=c99 -O2 -Wall -Werror bench/embed_img2img.c $(pkg-config --cflags --libs i2i) -o "$work/embed"
"$build/i2i" random-model "$work/sd15.safetensors" >/dev/null
model=$work/sd15.safetensors
tok=$fixtures/tokenizer
init=$fixtures/images/astronaut_512.png
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'); $(grep -o -w 'avx512_bf16\|amx_bf16\|avx512f\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "img2img ${size}x${size}, $steps steps, strength 0.5, random SD 1.5 weights; times: load + generate, wall"
cli_sum=0
emb_sum=0
off_sum=0
for i in $(seq 1 "$runs"); do
  /usr/bin/time -f "%e %M" -o "$work/t" "$build/i2i" img2img --model "$model" --tokenizer "$tok" --init "$init" \
    --prompt "a photograph of an astronaut riding a horse, highly detailed" \
    --negative-prompt "blurry, low quality, watermark" --width "$size" --height "$size" --steps "$steps" \
    --strength 0.5 --seed "$i" --sampler "DPM++ 2M Karras" --quiet --overwrite -o "$work/cli.png" >/dev/null
  read -r cli_s cli_kb <"$work/t"
  /usr/bin/time -f "%e %M" -o "$work/t" "$work/embed" "$model" "$tok" "$init" "$size" "$size" "$steps" 0.5 "$i" \
    "$work/embed.png" >/dev/null
  read -r emb_s emb_kb <"$work/t"
  # The control: the same embedded program with the library's malloc tuning switched off.
  I2I_NO_MALLOPT=1 /usr/bin/time -f "%e %M" -o "$work/t" "$work/embed" "$model" "$tok" "$init" "$size" "$size" \
    "$steps" 0.5 "$i" "$work/embed-untuned.png" >/dev/null
  read -r off_s off_kb <"$work/t"
  same=$(cmp -s "$work/cli.png" "$work/embed.png" && echo "same PNG" || echo "PNGs DIFFER")
  echo "run $i: cli ${cli_s} s (peak RSS $((cli_kb / 1024)) MiB)  embedded ${emb_s} s (peak RSS $((emb_kb / 1024)) MiB), $same; embedded with I2I_NO_MALLOPT=1 ${off_s} s (peak RSS $((off_kb / 1024)) MiB)"
  cli_sum=$(echo "$cli_sum + $cli_s" | bc -l)
  emb_sum=$(echo "$emb_sum + $emb_s" | bc -l)
  off_sum=$(echo "$off_sum + $off_s" | bc -l)
done
echo "mean: cli $(echo "$cli_sum / $runs" | bc -l | cut -c1-6) s, embedded $(echo "$emb_sum / $runs" | bc -l | cut -c1-6) s, embedded / cli = $(echo "$emb_sum / $cli_sum" | bc -l | cut -c1-5); untuned embedded / cli = $(echo "$off_sum / $cli_sum" | bc -l | cut -c1-5)"
