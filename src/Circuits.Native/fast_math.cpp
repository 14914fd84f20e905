// Built with -ffast-math (with fast_math_avx512.cpp, the only such files), so that GCC vectorises exp and log through
// glibc's libmvec.
// Its callers (cp_kernels.cpp, built with IEEE semantics) guarantee finite inputs: exp arguments in [−87, 87], log
// arguments ≥ FLT_MIN; they handle −∞ and 0 themselves.
#include <cmath>
#include <cstdint>

#include "fast_math.h"
#include "vector_width.h"

namespace circuits {

// fast_math_avx512.cpp: the same loops on 16-float vectors, for a multiple of 16 entries.
void ExpOfFinite16(const float* d, float* e, int64_t n16);
void LogOfPositive16(const float* z, float* out, int64_t n16);

void ExpOfFinite(const float* d, float* e, int64_t n) {
    if (vectorWidth == 16) {   // whole 16-float blocks there, the rest here (from an offset that is a multiple of 16)
        int64_t wide = n - n % 16;
        ExpOfFinite16(d, e, wide);
        d += wide, e += wide, n -= wide;
    }
    for (int64_t i = 0; i < n; i++) e[i] = std::exp(d[i]);
}

void LogOfPositive(const float* z, float* out, int64_t n) {
    if (vectorWidth == 16) {
        int64_t wide = n - n % 16;
        LogOfPositive16(z, out, wide);
        z += wide, out += wide, n -= wide;
    }
    for (int64_t i = 0; i < n; i++) out[i] = std::log(z[i]);
}

}  // namespace circuits
