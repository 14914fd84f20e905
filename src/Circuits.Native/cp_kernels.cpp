// Fused CPU kernels for the CP family of folded layers (CP, CP-S, CP-XS) in log space: the gather of each slot's
// input row, the max-shifted exp, the contraction with the slot's weight matrix and the product over the slots
// (a sum of logs), in one pass per fold; and the two halves of the backward pass. Called through a C ABI on the
// tensors' memory by Microsoft.ML.Circuits.Engine (Kernels/NativeCpKernel.cs), which partitions the work into
// ranges and runs the ranges on its own threads; nothing here allocates tensors or spawns threads.
//
// Layouts (all row-major, float32 unless said):
//   rows   (F·H)       for slot (f, h), the (B, K) block of log-values it reads: a row of one of the layer's source
//                      outputs, read in place (no gathered or concatenated copy); null for a padded slot
//   mask   (F·H)       uint8, 0 = padded slot (left out of the product); null when no fold is padded
//   w      element (f, h, i, o) at f·wFold + h·wSlot + i·O + o  (wFold = 0 when the matrices are shared by the folds)
//   y      (F, B, O)   output log-values
//   z      (F, H, B, O) linear sums Σ_i w·exp(x_i − m), m = max_i x_i, saved for the backward pass (may be null)
//   e      (F, H, B, K) the shifted exponentials exp(x_i − m) saved for the backward pass (may be null)
//   t      (F, H, B, O) g / z, written by the first half of the backward pass and read by the second
// A slot whose input row is entirely −∞ contributes −∞ (and nothing to the gradients); −∞ entries elsewhere
// contribute exactly nothing (their exp is flushed to 0).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "fast_math.h"
#include "gemm.h"
#include "vector_math.h"

#define CIRCUITS_EXPORT __attribute__((visibility("default")))

using namespace circuits;


extern "C" {

/// Version of this ABI; the managed side refuses a library with another version.
CIRCUITS_EXPORT int32_t circuits_native_abi_version() { return 14; }

/// Forward for the folds [foldBegin, foldEnd): y (F, B, O); when z and e are not null, also the linear sums
/// z (F, H, B, O) and the shifted exponentials e (F, H, B, K) that the backward pass reads (then it needs neither x
/// nor an exp; those of padded slots are left unwritten). Without them (inference) one slot's worth of scratch is used.
CIRCUITS_EXPORT
int32_t circuits_cp_forward(const float* const* rows, int64_t batch, int64_t k, const uint8_t* mask,
                            const float* w, int64_t wFold, int64_t wSlot, int64_t folds, int64_t arity, int64_t o,
                            float* y, float* z, float* e, int64_t foldBegin, int64_t foldEnd) {
    FlushSubnormals flush;
    if (foldBegin < 0 || foldEnd > folds || k <= 0 || o <= 0 || (z == nullptr) != (e == nullptr)) return -1;
    bool save = z != nullptr;
    std::vector<float> d(batch * k), shifts(batch), clamped(batch * o), logs(batch * o),
        exps(save ? 0 : batch * k), sums(save ? 0 : batch * o);
    for (int64_t f = foldBegin; f < foldEnd; f++) {
        float* yf = y + f * batch * o;
        std::memset(yf, 0, sizeof(float) * batch * o);
        for (int64_t h = 0; h < arity; h++) {
            int64_t slot = f * arity + h;
            if (mask != nullptr && mask[slot] == 0) continue;   // its z and e are never read
            float* es = save ? e + slot * batch * k : exps.data();
            float* zs = save ? z + slot * batch * o : sums.data();
            const float* xs = rows[slot];
            for (int64_t b = 0; b < batch; b++) shifts[b] = RowMax(xs + b * k, k);
            ShiftedDifferences(xs, shifts.data(), batch, k, d.data());
            FlushedExp(d.data(), es, batch * k);
            Gemm(es, k, 1, batch, w + f * wFold + h * wSlot, o, k, o, zs, o);
            ClampedLog(zs, clamped.data(), logs.data(), batch * o);
            // An input row entirely −∞ has e = 0, so z = 0 and the fold's output for that image is −∞.
            for (int64_t b = 0; b < batch; b++) AddLog(zs + b * o, logs.data() + b * o, shifts[b], yf + b * o, o);
        }
    }
    return 0;
}

/// First half of the backward pass, for the folds [foldBegin, foldEnd): t (F, H, B, O) = g / z (0 where z is 0),
/// and dL/dw per fold gw[f, h, i, o] = Σ_b e[f, h, b, i]·t[f, h, b, o]; gw is (F, H, K, O) even when the weights are
/// shared (the caller sums over the folds) and is overwritten.
CIRCUITS_EXPORT
int32_t circuits_cp_backward_weight(int64_t batch, int64_t k, const uint8_t* mask, int64_t folds, int64_t arity, int64_t o,
                                    const float* g, const float* z, const float* e, float* t, float* gw,
                                    int64_t foldBegin, int64_t foldEnd) {
    FlushSubnormals flush;
    if (foldBegin < 0 || foldEnd > folds) return -1;
    for (int64_t f = foldBegin; f < foldEnd; f++)
        for (int64_t h = 0; h < arity; h++) {
            int64_t slot = f * arity + h;
            float* gm = gw + slot * k * o;
            float* ts = t + slot * batch * o;
            if (mask != nullptr && mask[slot] == 0) {   // no gradient; its t is never read
                std::memset(gm, 0, sizeof(float) * k * o);
                continue;
            }
            Quotients(g + f * batch * o, z + slot * batch * o, ts, batch * o);
            // gm (k × o) = eᵀ (k × batch) · t (batch × o): A(i, b) = e[b·k + i].
            Gemm(e + slot * batch * k, 1, k, k, ts, o, batch, o, gm, o);
        }
    return 0;
}

/// Second half, for the images [batchBegin, batchEnd): grads[f·H + h][b, i] += e[f, h, b, i]·Σ_o w[i, o]·t[f, h, b, o],
/// with t from circuits_cp_backward_weight; grads[slot] is the (B, K) gradient block of the row the slot read (rows),
/// zeroed by the caller. Blocks read by several slots accumulate (each image belongs to one range, so ranges never
/// write the same memory).
CIRCUITS_EXPORT
int32_t circuits_cp_backward_input(int64_t batch, int64_t k, float* const* grads, const uint8_t* mask, const float* w,
                                   int64_t wFold, int64_t wSlot, int64_t folds, int64_t arity, int64_t o, const float* e,
                                   const float* t, int64_t batchBegin, int64_t batchEnd) {
    FlushSubnormals flush;
    if (batchBegin < 0 || batchEnd > batch) return -1;
    int64_t n = batchEnd - batchBegin;
    std::vector<float> dots(n * k), wt(k * o);
    for (int64_t f = 0; f < folds; f++)
        for (int64_t h = 0; h < arity; h++) {
            int64_t slot = f * arity + h;
            if (mask != nullptr && mask[slot] == 0) continue;
            Transpose(w + f * wFold + h * wSlot, wt.data(), k, o);
            Gemm(t + (slot * batch + batchBegin) * o, o, 1, n, wt.data(), k, o, k, dots.data(), k);
            const float* es = e + (slot * batch + batchBegin) * k;
            MultiplyAdd(es, dots.data(), grads[slot] + batchBegin * k, n * k);
        }
    return 0;
}

}  // extern "C"
