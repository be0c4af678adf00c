#!/bin/bash
# Runs tests/unit/test_kern_gemm.c against src/kern/x86/gemm_avx512.c built
# with scalar stand-ins for its AVX-512 intrinsics (dev/kern/avx512_emu.h),
# on a CPU without AVX-512. Usage: dev/kern/emu_avx512.sh BUILD_DIR
# (BUILD_DIR: a configured+built tree, for libedgeseq.a).
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
bld=${1:?build dir}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cc=${CC:-cc}
flags="-std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Wno-unused-parameter -I$src/include -I$src/src -I$src/tests -I$src/dev/kern ${EXTRA_CFLAGS:-}"
# -mavx2: the shared driver's B-packing transposes use AVX; only AVX-512 is emulated.
$cc $flags -mavx2 -mfma -DES_AVX512_EMU -c "$src/src/kern/x86/gemm_avx512.c" -o "$out/emu.o"
$cc $flags -DKERN_TEST_EMU_AVX512 -DES_SHARED_DIR='"."' -c "$src/tests/unit/test_kern_gemm.c" -o "$out/t.o"
$cc ${EXTRA_CFLAGS:-} "$out/t.o" "$out/emu.o" "$bld/libedgeseq.a" $(pkg-config --libs json-c) -lpthread -lm -o "$out/test_emu"
"$out/test_emu"
