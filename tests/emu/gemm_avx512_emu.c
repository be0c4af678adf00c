/* src/kern/x86/gemm_avx512.c compiled with scalar stand-ins for its
 * AVX-512F intrinsics (ES_AVX512_EMU, dev/kern/avx512_emu.h) and its
 * symbols renamed es_* -> emu_* (tests/CMakeLists.txt), so the
 * *_avx512_emu tests run the AVX-512 file's logic (16-lane chains, opmask
 * tails, blocking) on CPUs without AVX-512. A separate file so that none of
 * the library's -mavx512* flags apply; only AVX2 (the shared driver's
 * B-packing transposes) is real. */
#include "../../src/kern/x86/gemm_avx512.c"
