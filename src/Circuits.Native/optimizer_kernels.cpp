// Adam in one pass over a parameter: the weight decay, both moment updates, the bias-corrected denominator and the
// parameter update read and write each element once, where the optimizer built from tensor operations makes eight
// passes over parameter-sized memory (two of them allocating). Called through a C ABI by
// Microsoft.ML.Circuits.Engine (Training/FusedAdam.cs), which splits each parameter into ranges and runs the ranges on
// its own threads. The arithmetic follows PyTorch's Adam operation by operation, in float32:
//   g' = g + λ·p;  m = β1·m + (1 − β1)·g';  v = β2·v + (1 − β2)·g'·g';
//   p = p − (lr / (1 − β1^t))·m / (√v / √(1 − β2^t) + ε)
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "vector_math.h"

#define CIRCUITS_EXPORT __attribute__((visibility("default")))

using namespace circuits;

extern "C" {

/// One Adam step for the elements [begin, end) of a parameter p with gradient g and moments m, v (all n floats,
/// contiguous). stepSize = lr / (1 − β1^t) and correction = √(1 − β2^t) are computed by the caller in double.
CIRCUITS_EXPORT
int32_t circuits_adam_step(float* p, const float* g, float* m, float* v, int64_t n, float beta1, float beta2, float eps,
                           float weightDecay, float stepSize, float correction, int64_t begin, int64_t end) {
    if (begin < 0 || end > n || begin > end || correction <= 0.0f) return -1;
    const float a1 = 1.0f - beta1, a2 = 1.0f - beta2;
    const V8 vb1 = Splat(beta1), vb2 = Splat(beta2), va1 = Splat(a1), va2 = Splat(a2), veps = Splat(eps),
             vwd = Splat(weightDecay), vstep = Splat(-stepSize), vcorr = Splat(correction);
    int64_t i = begin;
    for (; i + 8 <= end; i += 8) {
        V8 pv = Load(p + i), gv = Load(g + i);
        if (weightDecay != 0.0f) gv = gv + vwd * pv;
        V8 mv = Load(m + i) * vb1 + va1 * gv;
        V8 vv = Load(v + i) * vb2 + va2 * gv * gv;
        V8 root = (V8)_mm256_sqrt_ps((__m256)vv);
        Store(m + i, mv);
        Store(v + i, vv);
        Store(p + i, pv + vstep * (mv / (root / vcorr + veps)));
    }
    for (; i < end; i++) {
        float gv = g[i];
        if (weightDecay != 0.0f) gv = gv + weightDecay * p[i];
        float mv = m[i] * beta1 + a1 * gv;
        float vv = v[i] * beta2 + a2 * gv * gv;
        m[i] = mv;
        v[i] = vv;
        p[i] = p[i] + -stepSize * (mv / (std::sqrt(vv) / correction + eps));
    }
    return 0;
}

}  // extern "C"
