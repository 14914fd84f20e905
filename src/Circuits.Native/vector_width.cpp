// The width of the library's wide vectors (vector_width.h): 16 floats where the CPU and the OS support AVX-512F, 8
// otherwise. Built for x86-64-v3 like the rest: the detection runs at load time, before any AVX-512 instruction may.
#include <cstdint>

#include "vector_width.h"

#define CIRCUITS_EXPORT __attribute__((visibility("default")))

namespace {

bool CpuHasAvx512() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");   // libgcc also checks that the OS saves the 512-bit registers (XCR0)
}

}  // namespace

namespace circuits {

int vectorWidth = CpuHasAvx512() ? 16 : 8;

}  // namespace circuits

extern "C" {

/// The width of the wide vectors (the GEMM's 16-column blocks, exp and log). request 0 reads it; 8 or 16 sets it (16 only where the CPU supports AVX-512F) and returns
/// the width now in use; −1 for a width that cannot be used. Not for use while kernels run on other threads: the
/// engine calls it once at load time, tests and benchmarks between passes (both widths give identical results).
CIRCUITS_EXPORT int32_t circuits_vector_width(int32_t request) {
    if (request == 0) return circuits::vectorWidth;
    if (request == 8 || (request == 16 && CpuHasAvx512())) return circuits::vectorWidth = request;
    return -1;
}

}  // extern "C"
