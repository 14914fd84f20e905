// Fused CPU kernels for the mixing layers in log space: y[f, b, k] = log Σ_h w[f, h, k]·exp(x_h[b, k]), unit by unit,
// over the slots h of each fold, read in place from the layer's sources (no gathered copy), and the two halves of
// the backward pass. Same conventions as cp_kernels.cpp: called through a C ABI on the tensors' memory by
// Microsoft.ML.Circuits.Engine (Kernels/NativeMixingKernel.cs), which runs ranges of the work on its own threads.
//
// Layouts (row-major, float32 unless said):
//   rows   (F·H)       for slot (f, h), the (B, K) block of log-values it reads; null for a padded slot
//   mask   (F·H)       uint8, 0 = padded slot (weight 0, left out); null when no fold is padded
//   w      (F, H, K)   non-negative weights
//   y      (F, B, K)   output log-values; the backward pass reads them
// Entries of −∞ contribute exactly nothing; a unit whose inputs are all −∞ (or whose weights are all 0) is −∞ and
// gets no gradient.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "fast_math.h"
#include "vector_math.h"

#define CIRCUITS_EXPORT __attribute__((visibility("default")))

using namespace circuits;

extern "C" {

/// Forward for the folds [foldBegin, foldEnd).
CIRCUITS_EXPORT
int32_t circuits_mixing_forward(const float* const* rows, int64_t batch, int64_t k, const uint8_t* mask, const float* w,
                                int64_t folds, int64_t arity, float* y, int64_t foldBegin, int64_t foldEnd) {
    FlushSubnormals flush;
    if (foldBegin < 0 || foldEnd > folds || k <= 0) return -1;
    int64_t n = batch * k;
    std::vector<float> shift(n), d(n), e(n), sum(n), clamped(n), logs(n);
    for (int64_t f = foldBegin; f < foldEnd; f++) {
        // The shift: the elementwise maximum over the real slots.
        std::fill(shift.begin(), shift.end(), NegativeInfinity);
        for (int64_t h = 0; h < arity; h++) {
            int64_t slot = f * arity + h;
            if (mask != nullptr && mask[slot] == 0) continue;
            MaxInto(rows[slot], shift.data(), n);
        }
        std::fill(sum.begin(), sum.end(), 0.0f);
        for (int64_t h = 0; h < arity; h++) {
            int64_t slot = f * arity + h;
            if (mask != nullptr && mask[slot] == 0) continue;
            Differences(rows[slot], shift.data(), d.data(), n);
            FlushedExp(d.data(), e.data(), n);
            const float* ws = w + slot * k;
            for (int64_t b = 0; b < batch; b++) MultiplyAdd(e.data() + b * k, ws, sum.data() + b * k, k);
        }
        ClampedLog(sum.data(), clamped.data(), logs.data(), n);
        // A unit with shift −∞ has sum 0: −∞ there.
        ShiftedLogs(sum.data(), logs.data(), shift.data(), y + f * n, n);
    }
    return 0;
}

/// dL/dw for the folds [foldBegin, foldEnd): gw[f, h, k] = Σ_b g[f, b, k]·exp(x_h[b, k] − y[f, b, k]) (0 at padded
/// slots); gw is overwritten.
CIRCUITS_EXPORT
int32_t circuits_mixing_backward_weight(const float* const* rows, int64_t batch, int64_t k, const uint8_t* mask,
                                        int64_t folds, int64_t arity, const float* y, const float* g, float* gw,
                                        int64_t foldBegin, int64_t foldEnd) {
    FlushSubnormals flush;
    if (foldBegin < 0 || foldEnd > folds) return -1;
    int64_t n = batch * k;
    std::vector<float> d(n), e(n);
    for (int64_t f = foldBegin; f < foldEnd; f++)
        for (int64_t h = 0; h < arity; h++) {
            int64_t slot = f * arity + h;
            float* gws = gw + slot * k;
            std::memset(gws, 0, sizeof(float) * k);
            if (mask != nullptr && mask[slot] == 0) continue;
            Differences(rows[slot], y + f * n, d.data(), n);
            FlushedExp(d.data(), e.data(), n);
            const float* gf = g + f * n;
            for (int64_t b = 0; b < batch; b++) MultiplyAdd(e.data() + b * k, gf + b * k, gws, k);
        }
    return 0;
}

/// dL/dx for the images [batchBegin, batchEnd): grads[f·H + h][b, k] += g[f, b, k]·w[f, h, k]·exp(x_h[b, k] − y[f, b, k]);
/// grads[slot] is the (B, K) gradient block of the row the slot read, zeroed by the caller (blocks read by several
/// slots accumulate; ranges of images never write the same memory).
CIRCUITS_EXPORT
int32_t circuits_mixing_backward_input(const float* const* rows, float* const* grads, int64_t batch, int64_t k,
                                       const uint8_t* mask, const float* w, int64_t folds, int64_t arity, const float* y,
                                       const float* g, int64_t batchBegin, int64_t batchEnd) {
    FlushSubnormals flush;
    if (batchBegin < 0 || batchEnd > batch) return -1;
    int64_t n = (batchEnd - batchBegin) * k, offset = batchBegin * k;
    std::vector<float> d(n), e(n), weighted(n);
    for (int64_t f = 0; f < folds; f++)
        for (int64_t h = 0; h < arity; h++) {
            int64_t slot = f * arity + h;
            if (mask != nullptr && mask[slot] == 0) continue;
            Differences(rows[slot] + offset, y + f * batch * k + offset, d.data(), n);
            FlushedExp(d.data(), e.data(), n);
            const float* ws = w + slot * k;
            const float* gf = g + f * batch * k + offset;
            float* gx = grads[slot] + offset;
            for (int64_t b = 0; b < batchEnd - batchBegin; b++) {
                Multiply(gf + b * k, ws, weighted.data() + b * k, k);
                MultiplyAdd(e.data() + b * k, weighted.data() + b * k, gx + b * k, k);
            }
        }
    return 0;
}

}  // extern "C"
