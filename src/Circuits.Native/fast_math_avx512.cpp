// fast_math.cpp's vectorised exp and log on 16-float (AVX-512) vectors, for the entries that fill whole 16-float
// blocks. Built for x86-64-v4 (CMakeLists.txt); it calls libmvec's 16-lane functions (_ZGVeN16v_expf,
// _ZGVeN16v_logf) directly, and is called only when the CPU and the OS support AVX-512F (fast_math.cpp decides from
// vector_width.h). Like gemm_avx512.cpp it includes no header with inline functions.
//
// libmvec's 16-lane exp and log give the same result as its 8-lane ones for every input (checked for every 7th float
// of the whole range on the development VM), and fast_math.cpp hands the remainder to its 8-lane calls (the last
// entries padded to 8), so each entry is computed by the same function whatever its position and the vector width:
// identical results on either width and in any batch (NativeKernelTests checks whole passes).
#include <immintrin.h>

#include <cmath>
#include <cstdint>

// glibc's libmvec, 16-lane AVX-512 variants (the names GCC's vectoriser calls).
extern "C" __m512 _ZGVeN16v_expf(__m512);
extern "C" __m512 _ZGVeN16v_logf(__m512);

namespace circuits {

// e[i] = exp(d[i]) for the n16 entries, n16 a multiple of 16: one libmvec call per 16 entries, written out so that
// no entry can fall into a scalar epilogue.
void ExpOfFinite16(const float* d, float* e, int64_t n16) {
    for (int64_t i = 0; i < n16; i += 16) _mm512_storeu_ps(e + i, _ZGVeN16v_expf(_mm512_loadu_ps(d + i)));
}

// out[i] = log(z[i]) for the n16 entries, n16 a multiple of 16.
void LogOfPositive16(const float* z, float* out, int64_t n16) {
    for (int64_t i = 0; i < n16; i += 16) _mm512_storeu_ps(out + i, _ZGVeN16v_logf(_mm512_loadu_ps(z + i)));
}

}  // namespace circuits
