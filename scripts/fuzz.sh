#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS_EACH] [NAMES...]: builds the libFuzzer harnesses of fuzz/ in build-fuzz/ (clang,
# ASan + UBSan) and runs each named one (default: all) for SECONDS_EACH seconds (default 30), one after the
# other, on one core each. Fails when any harness finds something: a crash, a sanitizer report, an
# exception other than i2i::Error, a broken invariant, an input taking over $I2I_FUZZ_TIMEOUT seconds
# (default 10) or over 2048 MB of memory. The input is kept in build-fuzz/fuzz/crashers/<name>/; replay
# it with `build-fuzz/fuzz/fuzz_<name> FILE`.
#
# Corpora: build-fuzz/fuzz/corpus/<name>/ keeps what earlier runs found (it grows run after run); seeds are
# made from the fixtures each run (a folder of its own, build-fuzz/fuzz/seeds.XXXXXX/, by fuzz_seeds, removed at
# the end: runs started at once never read each other's half-made seeds) plus fuzz/seeds/<name>/.
# Longer runs: `scripts/fuzz.sh 1800 image` (30 minutes), or several harnesses at once in separate shells.
# Environment: I2I_FIXTURES_DIR (default ../shared/fixtures), I2I_FUZZ_BUILD (build-fuzz), I2I_FUZZ_JOBS
# (build jobs, default nproc), I2I_FUZZ_TIMEOUT, I2I_FUZZ_ARGS (more libFuzzer flags).
set -euo pipefail
cd "$(dirname "$0")/.."

# Every harness; keep in step with I2I_FUZZ_HARNESSES (and fuzz_a1111_request) in fuzz/CMakeLists.txt.
all_harnesses=(safetensors image png_text parameters json ldm_yaml prompt tokenizer lora embedding hf_listing
  a1111_request)

seconds=${1:-30}
[ $# -gt 0 ] && shift
names=("$@")
[ ${#names[@]} -eq 0 ] && names=("${all_harnesses[@]}")
for name in "${names[@]}"; do
  [[ " ${all_harnesses[*]} " == *" $name "* ]] || { echo "fuzz.sh: no harness '$name' (${all_harnesses[*]})" >&2; exit 2; }
done

build=${I2I_FUZZ_BUILD:-build-fuzz}
fixtures=$(realpath "${I2I_FIXTURES_DIR:-../shared/fixtures}")
jobs=${I2I_FUZZ_JOBS:-$(nproc)}
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

start=$(date +%s)
mkdir -p "$build"
# Several fuzz.sh runs may share one build folder (one shell per harness): the configure and build steps take
# a lock on it so they do not compile the same objects at once; the fuzzing itself runs unlocked.
exec 9>"$build/.fuzz-build.lock"
flock 9
# -O1 with line tables: quick to build, symbolised stack traces, assertions kept. _GLIBCXX_USE_TBB_PAR_BACKEND=0
# says what libstdc++ would find anyway (no TBB here) without its __has_include(<tbb/tbb.h>), which clang
# writes into the dependency file as a missing header, so that every build recompiled those objects.
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -D_GLIBCXX_USE_TBB_PAR_BACKEND=0" -DI2I_FUZZ=ON \
  -DI2I_BUILD_TESTS=OFF -DI2I_BUILD_BENCH=OFF -DI2I_INSTALL=OFF -DCMAKE_DISABLE_PRECOMPILE_HEADERS=ON \
  -DI2I_FIXTURES_DIR="$fixtures" "${launcher[@]}" >/dev/null
cmake --build "$build" -j"$jobs" --target fuzz_seeds "${names[@]/#/fuzz_}"
echo "fuzz.sh: built in $(($(date +%s) - start)) s"

out=$build/fuzz
flock -u 9
seeds=$(mktemp -d "$out/seeds.XXXXXX")
trap 'rm -rf "$seeds"' EXIT
"$out/fuzz_seeds" "$fixtures" "$seeds"

failed=()
for name in "${names[@]}"; do
  corpus=$out/corpus/$name
  crashers=$out/crashers/$name
  mkdir -p "$corpus" "$crashers"
  seed_dirs=()
  for d in "$seeds/$name" "fuzz/seeds/$name"; do
    [ -d "$d" ] && seed_dirs+=("$d")
  done
  log=$out/logs/$name.log
  mkdir -p "$out/logs"
  # One core, the whole time; new inputs go to the corpus (the first folder), seeds are read only.
  # shellcheck disable=SC2086
  if "$out/fuzz_$name" -max_total_time="$seconds" -timeout="${I2I_FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 \
    -artifact_prefix="$crashers/" -print_final_stats=1 ${I2I_FUZZ_ARGS:-} "$corpus" "${seed_dirs[@]}" \
    >"$log" 2>&1; then
    echo "fuzz.sh: $name: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs in ${seconds} s, no finding, corpus $(find "$corpus" -type f | wc -l) files"
  else
    echo "fuzz.sh: $name: FINDING (log $log, input in $crashers/):" >&2
    grep -m3 -E 'ERROR|runtime error|invariant|uncaught|terminate|Test unit written' "$log" >&2 || tail -n 20 "$log" >&2
    failed+=("$name")
  fi
done
echo "fuzz.sh: total $(($(date +%s) - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: findings in: ${failed[*]}" >&2
  exit 1
fi
