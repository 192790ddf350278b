#!/usr/bin/env bash
# Installs every build and test dependency of i2i: Debian's packages, then the npm packages of the web
# page's browser test (tests/web/package-lock.json, into tests/web/node_modules). Idempotent: packages that
# are already installed are left alone, and nothing is downloaded when all are present.
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
  libcpp-httplib-dev            # `i2i serve`: the HTTP server (and the tests' client)
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-dev libomp-dev   # scripts/fuzz.sh: clang, its libFuzzer runtime, its OpenMP (configure)
  chromium nodejs               # the web page's browser test (scripts/test_web.sh, tests/web/)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
apt_install() {
  echo "setup: installing $*" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
if [ ${#missing[@]} -gt 0 ]; then
  apt_install "${missing[@]}"
fi
# Debian's nodejs comes without npm (a build of nodejs that bundles it, as NodeSource's, has it already).
if ! command -v npm >/dev/null; then
  apt_install npm
fi

# The browser test's npm packages, exactly as locked. The lock file is copied into node_modules once
# installed, so the next run sees that nothing changed and downloads nothing.
web_tests="$(cd "$(dirname "$0")/.." && pwd)/tests/web"
if ! cmp -s "$web_tests/package-lock.json" "$web_tests/node_modules/.i2i-installed-lock.json"; then
  echo "setup: npm ci in tests/web" >&2
  (cd "$web_tests" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$web_tests/package-lock.json" "$web_tests/node_modules/.i2i-installed-lock.json"
fi
