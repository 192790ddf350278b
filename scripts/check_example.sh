#!/usr/bin/env bash
# Builds examples/c/inpaint_controlnet.c against the *installed* library, as a user would (cmake --install,
# then cc with pkg-config), runs it on the tiny fixture model and checks:
#   - its picture is the one `i2i inpaint` writes for the same settings, byte for byte (pixels and
#     parameters text; the command line itself is held to the diffusers fixtures by the test suite);
#   - its second run returned I2I_CANCELLED from the progress callback;
#   - built with AddressSanitizer, both runs leak nothing.
# Usage: scripts/check_example.sh [BUILD_DIR]   (default: build). Prints "check_example: OK".
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
fixtures=${I2I_FIXTURES:-$(cd .. && pwd)/shared/fixtures}
jobs=${JOBS:-$(nproc)}
fail() {
  echo "check_example: FAIL: $*" >&2
  exit 1
}

if [ ! -f "$build/CMakeCache.txt" ]; then cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null; fi
cmake --build "$build" -j"$jobs" --target i2i_shared i2i_static i2i
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:PATH=//p' "$build/CMakeCache.txt")
export PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig
export LD_LIBRARY_PATH=$prefix/$libdir

# The README's command, as it is there.
cc -std=c99 -Wall -Werror examples/c/inpaint_controlnet.c $(pkg-config --cflags --libs i2i) -o "$work/example"
(cd "$work" && ./example "$fixtures" example.png) >"$work/out.txt" 2>"$work/err.txt" || {
  cat "$work/out.txt" "$work/err.txt" >&2
  fail "the example failed"
}
cat "$work/out.txt"
grep -q "second run: cancelled after 2 steps" "$work/out.txt" || fail "no cancelled second run"
[ "$(grep -c "^step " "$work/err.txt")" -eq 9 ] || fail "expected 7 + 2 progress lines (10 steps at strength 0.75 run 7)"

# The same inpainting through the command line.
(cd "$work" && "$OLDPWD/$build/i2i" inpaint --model "$fixtures/models/tiny-sd15.safetensors" \
  --tokenizer "$fixtures/tokenizer" --init "$fixtures/cases/inputs/astronaut_64.png" \
  --mask "$fixtures/cases/inputs/mask_64.png" \
  --prompt "a photograph of an astronaut riding a horse, highly detailed" \
  --negative-prompt "blurry, low quality, watermark" --steps 10 --cfg-scale 7.5 --seed 1234 \
  --control "$fixtures/cases/inputs/astronaut_64.png" --control-model "$fixtures/models/tiny-controlnet-sd15.safetensors" \
  --control-preprocess canny --control-weight 0.8 --precision fp32 --quiet -o cli.png) >/dev/null
cmp "$work/example.png" "$work/cli.png" || fail "the example's picture differs from i2i inpaint's"
echo "check_example: same PNG as i2i inpaint"

# Leaks: the example built with AddressSanitizer (LeakSanitizer sees the library's allocations too).
cc -std=c99 -Wall -Werror -g -fsanitize=address -fno-omit-frame-pointer examples/c/inpaint_controlnet.c \
  $(pkg-config --cflags --libs i2i) -o "$work/example-asan"
(cd "$work" && ASAN_OPTIONS=detect_leaks=1 ./example-asan "$fixtures" asan.png) >"$work/asan.txt" 2>&1 || {
  cat "$work/asan.txt" >&2
  fail "the example under AddressSanitizer"
}
grep -q "second run: cancelled" "$work/asan.txt" || fail "no cancelled run under AddressSanitizer"
echo "check_example: no leaks under AddressSanitizer"
echo "check_example: OK"
