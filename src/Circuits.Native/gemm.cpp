// Which vector width gemm.h's GEMM uses for its 16-column blocks: 16 floats (gemm_avx512.cpp) where the CPU and the
// OS support AVX-512F, 8 otherwise. Built for x86-64-v3 like the rest: the detection runs at load time, before any
// AVX-512 instruction may.
#include <cstdint>

#include "gemm.h"

#define CIRCUITS_EXPORT __attribute__((visibility("default")))

namespace {

bool CpuHasAvx512() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");   // libgcc also checks that the OS saves the 512-bit registers (XCR0)
}

}  // namespace

namespace circuits {

int gemmVectorWidth = CpuHasAvx512() ? 16 : 8;

}  // namespace circuits

extern "C" {

/// The GEMM's vector width. request 0 reads it; 8 or 16 sets it (16 only where the CPU supports AVX-512F) and returns
/// the width now in use; −1 for a width that cannot be used. Not for use while kernels run on other threads: the
/// engine calls it once at load time, tests and benchmarks between passes (both widths give identical results).
CIRCUITS_EXPORT int32_t circuits_gemm_vector_width(int32_t request) {
    if (request == 0) return circuits::gemmVectorWidth;
    if (request == 8 || (request == 16 && CpuHasAvx512())) return circuits::gemmVectorWidth = request;
    return -1;
}

}  // extern "C"
