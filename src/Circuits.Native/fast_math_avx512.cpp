// fast_math.cpp's vectorised exp and log on 16-float (AVX-512) vectors, for the entries that fill whole 16-float
// blocks. Built with -ffast-math for x86-64-v4 (CMakeLists.txt), so GCC calls libmvec's 16-lane functions
// (_ZGVeN16v_expf, _ZGVeN16v_logf); called only when the CPU and the OS support AVX-512F (fast_math.cpp decides from
// vector_width.h). Like gemm_avx512.cpp it includes no header with inline functions.
//
// libmvec's 16-lane exp and log give the same result as its 8-lane ones for every input (checked for every 7th float
// of the whole range on the development VM), and fast_math.cpp hands the remainder to its own loop with an offset
// that is a multiple of 16, so each entry is computed by the same function as on 8-lane vectors: identical results
// on either width (NativeKernelTests checks whole passes).
#include <cmath>
#include <cstdint>

namespace circuits {

// e[i] = exp(d[i]) for the n16 entries, n16 a multiple of 16.
void ExpOfFinite16(const float* d, float* e, int64_t n16) {
    for (int64_t i = 0; i < n16; i++) e[i] = std::exp(d[i]);
}

// out[i] = log(z[i]) for the n16 entries, n16 a multiple of 16.
void LogOfPositive16(const float* z, float* out, int64_t n16) {
    for (int64_t i = 0; i < n16; i++) out[i] = std::log(z[i]);
}

}  // namespace circuits
