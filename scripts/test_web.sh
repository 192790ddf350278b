#!/usr/bin/env bash
# The web page of `i2i serve` in a real browser (tests/web/page.test.mjs): starts `i2i serve --port 0` on
# the tiny fixture model, drives Debian's chromium through playwright-core, and saves screenshots of the
# finished page in OUTPUT_DIR. ctest runs it as web_page_test (so scripts/test.sh and .ci/run do).
#
#   scripts/test_web.sh [I2I_BINARY [OUTPUT_DIR]]   (defaults: build/i2i, build/tests/web)
#
# Exits 77, which ctest reports as skipped, with the reason on stdout, only where chromium, node or the
# npm packages of tests/web are missing (scripts/setup.sh installs all three).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
binary="$(realpath "${1:-$root/build/i2i}")"
out="$(realpath -m "${2:-$root/build/tests/web}")"

skip() {
  echo "web_page_test SKIPPED: $1 (scripts/setup.sh installs it)"
  exit 77
}
chromium="${CHROMIUM:-$(command -v chromium || true)}"
[ -n "$chromium" ] && [ -x "$chromium" ] || skip "no chromium"
command -v node >/dev/null || skip "no node"
[ -f "$root/tests/web/node_modules/playwright-core/package.json" ] || skip "no tests/web/node_modules (npm ci)"
[ -x "$binary" ] || { echo "test_web: no i2i program at $binary" >&2; exit 1; }

mkdir -p "$out"
export I2I_BINARY="$binary" I2I_WEB_OUT="$out" CHROMIUM="$chromium"
export I2I_FIXTURES_DIR="${I2I_FIXTURES_DIR:-$root/../shared/fixtures}"
cd "$root/tests/web"
# One browser, one server: the page's tests run in order, each on what the one before left.
exec timeout 150 node --test --test-concurrency=1 --test-reporter=spec page.test.mjs
