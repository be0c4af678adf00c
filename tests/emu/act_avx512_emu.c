/* src/kern/x86/act_avx512.c compiled with scalar stand-ins for its AVX-512
 * intrinsics (ES_AVX512_EMU, dev/kern/act_avx512_emu.h) and its symbols
 * renamed es_* -> emu_* (tests/CMakeLists.txt), so
 * unit_test_kern_act_avx512_emu runs its logic on CPUs without AVX-512. A
 * separate file so that none of the library's -mavx512* flags apply. */
#include "../../src/kern/x86/act_avx512.c"
