#!/usr/bin/env bash
# Installs dependencies, builds i2i and runs the whole test suite: the release build's tests, then the
# file readers' tests again under AddressSanitizer + UndefinedBehaviorSanitizer, then a short slice of
# fuzzing of every parser.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
jobs=$(nproc)

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest -j"$jobs" --output-on-failure --timeout 600)

# The installed library: its tree, exported symbols, pkg-config and CMake consumers, and the C example
# (built against the install, same PNG as the CLI, cancelled run, no leaks under AddressSanitizer).
scripts/check_install.sh build
scripts/check_example.sh build

# Sanitizer build: only the test programs that parse untrusted input.
sanitized_tests="safetensors_test image_test parameters_test tokenizer_test checkpoint_test config_files_test clip_vision_test ip_image_proj_test lora_weights_test embedding_file_test regular_file_test"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DI2I_SANITIZE=ON -DI2I_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j"$jobs" --target $sanitized_tests
label_regex=$(echo "$sanitized_tests" | tr ' ' '|')
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest -j"$jobs" --output-on-failure -L "^(${label_regex})$")

# Fuzzing (fuzz/, RELIABILITY.md): every harness for a short, fixed slice, failing on any finding. The whole
# step, build included, stays under 5 minutes on 2 cores; scripts/fuzz.sh SECONDS runs them longer.
scripts/fuzz.sh "${I2I_CI_FUZZ_SECONDS:-15}"
