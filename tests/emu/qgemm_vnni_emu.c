/* src/kern/x86/qgemm_vnni.c compiled with scalar stand-ins for its AVX-512
 * intrinsics (ES_AVX512_EMU, dev/kern/avx512_emu.h) and renamed symbols, so
 * unit_test_kern_qgemm_vnni_emu runs its logic on CPUs without AVX-512. A
 * separate file so that none of the library's -mavx512* flags apply: the
 * compiler must not emit AVX-512 instructions here. */
#include "../../src/kern/x86/qgemm_vnni.c"
