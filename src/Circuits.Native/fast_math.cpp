// The only translation unit built with -ffast-math, so that GCC vectorises exp and log through glibc's libmvec.
// Its callers (cp_kernels.cpp, built with IEEE semantics) guarantee finite inputs: exp arguments in [−87, 87], log
// arguments ≥ FLT_MIN; they handle −∞ and 0 themselves.
#include <cmath>
#include <cstdint>

#include "fast_math.h"


namespace circuits {

void ExpOfFinite(const float* d, float* e, int64_t n) {
    for (int64_t i = 0; i < n; i++) e[i] = std::exp(d[i]);
}

void LogOfPositive(const float* z, float* out, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = std::log(z[i]);
}

}  // namespace circuits
