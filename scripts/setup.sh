#!/usr/bin/env bash
# Installs every build and test dependency of i2i from Debian's packages. Idempotent: packages that are
# already installed are left alone, and nothing is downloaded when all are present.
set -euo pipefail
packages=(
  build-essential cmake pkg-config clang-format
  libdnnl-dev                   # oneDNN: convolution and matmul, fp32 and bf16
  libpng-dev libjpeg-dev libwebp-dev libexif-dev   # image I/O
  nlohmann-json3-dev            # JSON (safetensors headers, configs, cases)
  libyaml-cpp-dev               # LDM / A1111 .yaml model configs
  libicu-dev                    # Unicode normalisation and case mapping for the CLIP tokenizer
  libcurl4-openssl-dev          # `i2i pull` (Hugging Face repositories, the tokenizer)
  libcpp-httplib-dev            # tests: a local hub-like HTTP server for the `i2i pull` tests
  libssl-dev                    # OpenSSL's libcrypto: SHA-256 of model files (the parameters text's hashes)
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-dev libomp-dev   # scripts/fuzz.sh: clang, its libFuzzer runtime, its OpenMP (configure)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
