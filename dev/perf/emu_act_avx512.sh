#!/bin/bash
# Runs tests/unit/test_kern_act.c against src/kern/x86/act_avx512.c built with
# scalar stand-ins for its AVX-512 intrinsics (dev/perf/act_avx512_emu.h), on
# a CPU without AVX-512. Usage: dev/perf/emu_act_avx512.sh BUILD_DIR
# (BUILD_DIR: a configured+built tree, for libedgeseq.a).
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
bld=${1:?build dir}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cc=${CC:-cc}
flags="-std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -I$src/include -I$src/src -I$src/tests -I$src/dev/perf ${EXTRA_CFLAGS:-}"
$cc $flags -DES_AVX512_EMU -c "$src/src/kern/x86/act_avx512.c" -o "$out/emu.o"
$cc $flags -DES_ACT_TEST_EMU_AVX512 -DES_SHARED_DIR='"."' -c "$src/tests/unit/test_kern_act.c" -o "$out/t.o"
$cc ${EXTRA_CFLAGS:-} "$out/t.o" "$out/emu.o" "$bld/libedgeseq.a" $(pkg-config --libs json-c) -lpthread -lm -o "$out/test_emu"
"$out/test_emu"
