/* cpu_features: cpuid/xgetbv probing (see cpu_features.h). The environment
 * variable SGLC_DISABLE_AVX512=1 hides AVX-512 (and AMX) so the AVX2 kernels can
 * be tested and benchmarked on the same machine; SGLC_DISABLE_AMX=1 hides AMX
 * only. On Linux, AMX use needs a one-time per-process permission, requested
 * here (arch_prctl is idempotent, so the benign first-call race is harmless). */
#include "base/cpu_features.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

static uint64_t xgetbv0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

/* AMX tile data state: supported by the OS (XCR0) and permitted for this process. */
static bool amx_permitted(uint64_t xcr0) {
    if ((xcr0 & 0x60000) != 0x60000) return false;
#if defined(__linux__) && defined(SYS_arch_prctl)
    enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#else
    return false;
#endif
}
#endif

static struct cpu_features g_feat;
static int g_done;

static void probe(struct cpu_features *f) {
    memset(f, 0, sizeof *f);
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    bool osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    f->fma = (c >> 12) & 1;
    f->f16c = (c >> 29) & 1;
    if (!osxsave || !avx) {
        f->fma = f->f16c = false;
        return;
    }
    uint64_t xcr0 = xgetbv0();
    bool ymm = (xcr0 & 6) == 6, zmm = (xcr0 & 0xe6) == 0xe6;
    if (!ymm) {
        f->fma = f->f16c = false;
        return;
    }
    if (__get_cpuid_max(0, NULL) < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    f->avx2 = (b >> 5) & 1;
    if (zmm && !getenv("SGLC_DISABLE_AVX512")) {
        f->avx512f = (b >> 16) & 1;
        f->avx512bw = (b >> 30) & 1;
        f->avx512vl = (b >> 31) & 1;
        f->avx512_vnni = (c >> 11) & 1;
        bool amx_tile = (d >> 24) & 1;
        if (amx_tile && !getenv("SGLC_DISABLE_AMX") && amx_permitted(xcr0)) {
            f->amx_tile = true;
            f->amx_bf16 = (d >> 22) & 1;
            f->amx_int8 = (d >> 25) & 1;
        }
        __cpuid_count(7, 1, a, b, c, d);
        f->avx512_bf16 = (a >> 5) & 1;
        f->avx_vnni = (a >> 4) & 1;
    } else {
        __cpuid_count(7, 1, a, b, c, d);
        f->avx_vnni = (a >> 4) & 1;
    }
#endif
}

const struct cpu_features *cpu_features_get(void) {
    if (!g_done) {
        probe(&g_feat);
        g_done = 1;
    }
    return &g_feat;
}

const char *cpu_features_string(void) {
    static char buf[128];
    const struct cpu_features *f = cpu_features_get();
    snprintf(buf, sizeof buf, "%s%s%s%s%s%s%s%s%s%s%s", f->avx2 ? "avx2 " : "", f->fma ? "fma " : "",
             f->f16c ? "f16c " : "", f->avx512f ? "avx512f " : "", f->avx512bw ? "avx512bw " : "",
             f->avx512vl ? "avx512vl " : "", f->avx512_vnni ? "avx512vnni " : "",
             f->avx512_bf16 ? "avx512bf16 " : "", f->avx_vnni ? "avxvnni " : "", f->amx_bf16 ? "amx-bf16 " : "",
             f->amx_int8 ? "amx-int8 " : "");
    return buf;
}
