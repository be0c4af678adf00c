#!/usr/bin/env bash
# The whole test suite (README command 2; .ci/run calls exactly this).
# Installs build dependencies (Debian, when run as root), then:
#   1. release build + ctest
#   2. Debug build with ASan+UBSan + ctest (leak checking on)
#   3. MPI build (-DES_MPI=ON): data-parallel training test under mpirun -n 2
#   4. libFuzzer smoke run of every parser fuzzer (clang), corpus first
# Prints one final line "N passed, N failed" over all stages and exits
# non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  need=""
  for p in build-essential cmake ninja-build pkg-config libjson-c-dev clang libclang-rt-14-dev \
           libopenmpi-dev openmpi-bin; do
    dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
  done
  if [ -n "$need" ]; then
    echo "installing:$need"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null || exit 1
  fi
fi
jobs=$(nproc)
fuzz_seconds=${ES_FUZZ_SECONDS:-15}
passed=0; failed=0
log=$(mktemp)

run_ctest() { # dir label [extra env]
  echo "== ctest: $2 =="
  (cd "$1" && ctest -j "$jobs" --output-on-failure) 2>&1 | tee "$log"
  local line p t
  line=$(grep -E "tests passed, [0-9]+ tests failed out of" "$log" | tail -1)
  if [ -z "$line" ]; then failed=$((failed + 1)); return; fi
  t=$(echo "$line" | sed -E 's/.*out of ([0-9]+).*/\1/')
  f=$(echo "$line" | sed -E 's/.*tests passed, ([0-9]+) tests failed.*/\1/')
  passed=$((passed + t - f)); failed=$((failed + f))
}

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null &&
  cmake --build build -j "$jobs" || { echo "0 passed, 1 failed (release build)"; exit 1; }
run_ctest build release

cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DES_SANITIZE=ON >/dev/null &&
  cmake --build build-asan -j "$jobs" || { echo "$passed passed, $((failed + 1)) failed (asan build)"; exit 1; }
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_ctest build-asan asan+ubsan

if command -v mpiexec >/dev/null; then
  if cmake -S . -B build-mpi -G Ninja -DCMAKE_BUILD_TYPE=Release -DES_MPI=ON >/dev/null &&
     cmake --build build-mpi -j "$jobs" >/dev/null; then
    echo "== ctest: mpi (data-parallel training, mpirun -n 2) =="
    (cd build-mpi && ctest -L mpi --output-on-failure) 2>&1 | tee "$log"
    if grep -qE "100% tests passed" "$log"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  else
    echo "mpi build failed"; failed=$((failed + 1))
  fi
fi

if command -v clang >/dev/null; then
  echo "== fuzz smoke (${fuzz_seconds}s per target) =="
  if CC=clang cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DES_FUZZ=ON >/dev/null &&
     cmake --build build-fuzz -j "$jobs" >/dev/null; then
    if [ -x scripts/fuzz-smoke.sh ] || [ -f scripts/fuzz-smoke.sh ]; then
      if bash scripts/fuzz-smoke.sh build-fuzz "$fuzz_seconds"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    fi
  else
    echo "fuzz build failed"; failed=$((failed + 1))
  fi
fi
rm -f "$log"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
