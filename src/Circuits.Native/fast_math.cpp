// exp and log through glibc's libmvec, called directly on 8-float vectors (16-float ones in fast_math_avx512.cpp),
// the last entries of a block padded to a whole vector: every entry goes through the same function, so its result
// depends on its value only, not on its position or on how many entries the block holds.
// Its callers (cp_kernels.cpp) guarantee finite inputs: exp arguments in [−87, 87], log
// arguments ≥ FLT_MIN; they handle −∞ and 0 themselves.
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "fast_math.h"
#include "vector_width.h"

namespace circuits {

// fast_math_avx512.cpp: the same loops on 16-float vectors, for a multiple of 16 entries.
void ExpOfFinite16(const float* d, float* e, int64_t n16);
void LogOfPositive16(const float* z, float* out, int64_t n16);

// glibc's libmvec, 8-lane AVX2 variants (the names GCC's vectoriser calls; libm.so links libmvec as needed).
extern "C" __m256 _ZGVdN8v_expf(__m256);
extern "C" __m256 _ZGVdN8v_logf(__m256);

// Exactly 8 entries through one call of libmvec's 8-lane function, written out: GCC's vectoriser turned a constant
// 8-iteration loop into eight scalar calls.
static inline void Exp8(const float* d, float* e) { _mm256_storeu_ps(e, _ZGVdN8v_expf(_mm256_loadu_ps(d))); }

static inline void Log8(const float* z, float* out) { _mm256_storeu_ps(out, _ZGVdN8v_logf(_mm256_loadu_ps(z))); }

// f over n entries, 8 at a time; the last n mod 8 go through the same 8-lane function, padded with `pad`, so that an
// entry's result depends on its value only, never on its position in the block (a scalar tail would round
// differently, and a row's score would then depend on how many rows were scored with it).
template <typename Eight>
static inline void ByEights(const float* x, float* y, int64_t n, float pad, Eight f) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) f(x + i, y + i);
    if (i == n) return;
    float in[8], out[8];
    for (int j = 0; j < 8; j++) in[j] = pad;
    std::memcpy(in, x + i, sizeof(float) * (n - i));
    f(in, out);
    std::memcpy(y + i, out, sizeof(float) * (n - i));
}

void ExpOfFinite(const float* d, float* e, int64_t n) {
    if (vectorWidth == 16) {   // whole 16-float blocks there, the rest here (from an offset that is a multiple of 16)
        int64_t wide = n - n % 16;
        ExpOfFinite16(d, e, wide);
        d += wide, e += wide, n -= wide;
    }
    ByEights(d, e, n, 0.0f, Exp8);
}

void LogOfPositive(const float* z, float* out, int64_t n) {
    if (vectorWidth == 16) {
        int64_t wide = n - n % 16;
        LogOfPositive16(z, out, wide);
        z += wide, out += wide, n -= wide;
    }
    ByEights(z, out, n, 1.0f, Log8);
}

}  // namespace circuits
