#!/usr/bin/env bash
# Installs dependencies, builds i2i (Release, in build/) and runs it with the given arguments.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" -j"$(nproc)" --target i2i >&2
exec "$root/build/i2i" "$@"
