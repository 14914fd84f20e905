#pragma once
#include <cstdint>

namespace circuits {
// e[i] = exp(d[i]) for d[i] in [−87, 87] (vectorised).
void ExpOfFinite(const float* d, float* e, int64_t n);
// out[i] = log(z[i]) for z[i] ≥ FLT_MIN (vectorised).
void LogOfPositive(const float* z, float* out, int64_t n);
}  // namespace circuits
