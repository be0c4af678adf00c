#!/usr/bin/env bash
# The whole test suite: installs build dependencies (Debian, as root),
# builds a release tree and an ASan+UBSan debug tree, runs ctest on both.
# Usage: bash scripts/test.sh            (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  need=""
  for p in build-essential cmake ninja-build pkg-config libjson-c-dev clang; do
    dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
  done
  if [ -n "$need" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
  fi
fi
jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DES_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$jobs"
status=0
echo "== release =="
(cd build && ctest -j "$jobs" --output-on-failure) || status=1
echo "== asan+ubsan =="
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
   ctest -j "$jobs" --output-on-failure -LE slow) || status=1
exit $status
