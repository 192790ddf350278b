#!/usr/bin/env bash
# Installs i2i into a temporary prefix and checks what a user of the library gets:
#   - the tree: the C header and the version header (no internal headers), libi2i.so with its SONAME,
#     libi2i.a, the pkg-config file, the CMake package, the `i2i` command;
#   - libi2i.so exports the C API (i2i_*) and nothing else;
#   - a C99 program built with `pkg-config --cflags --libs i2i` runs against libi2i.so, and the same
#     program links libi2i.a with `pkg-config --static`'s flags;
#   - a CMake project using find_package(i2i) builds and runs with i2i::i2i (a C-only project) and with
#     i2i::i2i_static.
# Usage: scripts/check_install.sh [BUILD_DIR]   (default: build; configured when it is not yet, and the
# installed targets are built). Prints "check_install: OK" or stops at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
jobs=${JOBS:-$(nproc)}

fail() {
  echo "check_install: FAIL: $*" >&2
  exit 1
}
step() { echo "check_install: $*"; }

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" -j"$jobs" --target i2i_shared i2i_static i2i

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >"$work/install.log" || {
  cat "$work/install.log" >&2
  fail "cmake --install"
}
libdir=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:PATH=//p' "$build/CMakeCache.txt")
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
if [ -z "$libdir" ] || [ -z "$version" ]; then
  fail "no CMAKE_INSTALL_LIBDIR / CMAKE_PROJECT_VERSION in $build/CMakeCache.txt"
fi

# ---- The tree ----
step "installed into $prefix:"
(cd "$prefix" && find . \( -type f -o -type l \) | sort | sed 's/^\./  /')
for f in include/i2i/i2i.h include/i2i/i2i_version.h "$libdir/libi2i.so" "$libdir/libi2i.a" \
  "$libdir/pkgconfig/i2i.pc" "$libdir/cmake/i2i/i2iConfig.cmake" "$libdir/cmake/i2i/i2iConfigVersion.cmake" \
  bin/i2i; do
  [ -e "$prefix/$f" ] || fail "$f is not installed"
done
headers=$(cd "$prefix/include" && find . -type f | sort | tr '\n' ' ')
[ "$headers" = "./i2i/i2i.h ./i2i/i2i_version.h " ] || fail "headers other than the public two installed: $headers"
soname=$(readelf -d "$prefix/$libdir/libi2i.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
case "$soname" in
  libi2i.so.${version%%.*}*) ;;
  *) fail "SONAME '$soname' does not carry the version $version" ;;
esac
[ -e "$prefix/$libdir/$soname" ] || fail "$soname is not installed"
step "SONAME $soname"

# ---- Exported symbols: the C API only ----
exported=$(nm -D --defined-only "$prefix/$libdir/libi2i.so" | awk '{print $3}' | sort)
others=$(echo "$exported" | grep -v '^i2i_' || true)
[ -z "$others" ] || fail "libi2i.so exports symbols outside the C API:
$others"
step "libi2i.so exports: $(echo "$exported" | tr '\n' ' ')"
# Every function declared in i2i.h (a line that starts with its return type) is exported.
declared=$(sed -n 's/^[A-Za-z_][^#(]*[ *]\(i2i_[a-z0-9_]*\)(.*/\1/p' "$prefix/include/i2i/i2i.h")
[ -n "$declared" ] || fail "no function declarations found in i2i.h"
for f in $declared; do
  echo "$exported" | grep -qx "$f" || fail "$f is declared in i2i.h but not exported (I2I_API missing?)"
done

# ---- A C99 program ----
# Goes through the library: the version, the defaults, and an error raised (and caught) inside it.
mkdir -p "$work/consumer"
cat >"$work/consumer/prog.c" <<'EOF'
#include <i2i/i2i.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  i2i_img2img_params params;
  char* error = NULL;
  i2i_model* model;
  i2i_img2img_defaults(&params);
  model = i2i_model_load("/nonexistent/model.safetensors", NULL, &error);
  if (model != NULL || error == NULL || params.steps <= 0) {
    fprintf(stderr, "unexpected: a model from a missing file, or no error message\n");
    return 1;
  }
  i2i_free_error(error);
  if (strcmp(i2i_version(), I2I_VERSION_STRING) != 0) {
    fprintf(stderr, "library %s, header %s\n", i2i_version(), I2I_VERSION_STRING);
    return 1;
  }
  printf("%s\n", i2i_version());
  return 0;
}
EOF
export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
cflags=(-std=c99 -Wall -Wextra -pedantic -Werror)
# shellcheck disable=SC2046  # pkg-config's flags are meant to be split
cc "${cflags[@]}" "$work/consumer/prog.c" $(pkg-config --cflags --libs i2i) -o "$work/prog_pc" ||
  fail "the C99 program does not build with pkg-config's flags"
readelf -d "$work/prog_pc" | grep -q "NEEDED.*\[$soname\]" || fail "the pkg-config program does not use $soname"
out=$(LD_LIBRARY_PATH="$prefix/$libdir" "$work/prog_pc") || fail "the pkg-config program failed"
[ "$out" = "$version" ] || fail "the pkg-config program printed '$out', not $version"
step "C99 program (pkg-config, libi2i.so): $out"

# Static: libi2i.a (named, since -li2i would take the .so) and what `pkg-config --static` adds.
# shellcheck disable=SC2046
cc "${cflags[@]}" "$work/consumer/prog.c" $(pkg-config --cflags i2i) -o "$work/prog_pc_static" \
  "$prefix/$libdir/libi2i.a" $(pkg-config --static --libs i2i) ||
  fail "the C99 program does not link libi2i.a with pkg-config --static's flags"
if readelf -d "$work/prog_pc_static" | grep -q "NEEDED.*libi2i"; then
  fail "the static pkg-config program links libi2i.so"
fi
out=$("$work/prog_pc_static") || fail "the statically linked program failed"
[ "$out" = "$version" ] || fail "the statically linked program printed '$out', not $version"
step "C99 program (pkg-config --static, libi2i.a): $out"

# ---- A CMake project ----
cat >"$work/consumer/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.25)
project(i2i_consumer LANGUAGES C)
option(STATIC "link i2i::i2i_static (the library is C++ inside: the project needs CXX)" OFF)
if(STATIC)
  enable_language(CXX)
  find_package(i2i 0.1 REQUIRED COMPONENTS static)
  set(lib i2i::i2i_static)
else()
  find_package(i2i 0.1 REQUIRED)
  set(lib i2i::i2i)
endif()
add_executable(prog prog.c)
set_target_properties(prog PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
target_compile_options(prog PRIVATE -Wall -Wextra -pedantic -Werror)
target_link_libraries(prog PRIVATE ${lib})
EOF
for kind in shared static; do
  static=OFF
  [ "$kind" = static ] && static=ON
  cmake -S "$work/consumer" -B "$work/consumer-$kind" -DCMAKE_PREFIX_PATH="$prefix" -DSTATIC=$static \
    >"$work/cmake-$kind.log" 2>&1 || {
    cat "$work/cmake-$kind.log" >&2
    fail "find_package(i2i) ($kind)"
  }
  cmake --build "$work/consumer-$kind" >>"$work/cmake-$kind.log" 2>&1 || {
    cat "$work/cmake-$kind.log" >&2
    fail "the CMake project ($kind) does not build"
  }
  out=$(LD_LIBRARY_PATH="$prefix/$libdir" "$work/consumer-$kind/prog") || fail "the CMake project's program ($kind) failed"
  [ "$out" = "$version" ] || fail "the CMake project's program ($kind) printed '$out', not $version"
  if [ "$kind" = shared ]; then
    readelf -d "$work/consumer-$kind/prog" | grep -q "NEEDED.*\[$soname\]" || fail "i2i::i2i does not link $soname"
  else
    if readelf -d "$work/consumer-$kind/prog" | grep -q "NEEDED.*libi2i"; then
      fail "i2i::i2i_static links libi2i.so"
    fi
  fi
  step "CMake project (find_package(i2i), $kind): $out"
done

step OK
