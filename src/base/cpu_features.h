/* cpu_features: x86 ISA detection with cpuid/xgetbv (OS support for the wider
 * register state is checked too). Pure function of the machine; cached on
 * first call (benign race: every thread computes the same value). */
#ifndef SGLC_BASE_CPU_FEATURES_H
#define SGLC_BASE_CPU_FEATURES_H

#include <stdbool.h>

struct cpu_features {
    bool avx2, fma, f16c;
    bool avx512f, avx512bw, avx512vl, avx512_vnni, avx512_bf16;
    bool avx_vnni;
    /* AMX tiles usable by this process: CPU support, OS-enabled tile state (XCR0
     * bits 17-18) and the Linux per-process permission (arch_prctl
     * ARCH_REQ_XCOMP_PERM), requested during detection. Off with AVX-512 off or
     * SGLC_DISABLE_AMX=1. */
    bool amx_tile, amx_bf16, amx_int8;
};

const struct cpu_features *cpu_features_get(void);
/* Human-readable summary such as "avx2 fma f16c avx512f avx512bw ...". */
const char *cpu_features_string(void);

#endif
