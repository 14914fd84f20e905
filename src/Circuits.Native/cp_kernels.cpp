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

#define CIRCUITS_EXPORT __attribute__((visibility("default")))

namespace {

constexpr float NegativeInfinity = -std::numeric_limits<float>::infinity();
constexpr float ExpFloor = -87.0f;   // exp(−87) ≈ 1.6e−38: differences at or below it are flushed to exactly 0

// GCC vector extensions; the library is built for x86-64-v3 (AVX2 + FMA), which the managed loader checks. Every
// elementwise loop below is written on 8-float vectors with a scalar tail: under IEEE semantics GCC vectorises
// neither a max reduction nor a conditional division by itself.
typedef float V8 __attribute__((vector_size(32)));
typedef float V8u __attribute__((vector_size(32), aligned(4)));

inline V8 Load(const float* p) { return *reinterpret_cast<const V8u*>(p); }
inline void Store(float* p, V8 v) { *reinterpret_cast<V8u*>(p) = v; }
inline V8 Splat(float v) { return V8{v, v, v, v, v, v, v, v}; }
inline V8 Max(V8 a, V8 b) { return a > b ? a : b; }

inline float RowMax(const float* x, int64_t k) {
    float best = NegativeInfinity;
    int64_t i = 0;
    if (k >= 8) {
        V8 v = Load(x);
        for (i = 8; i + 8 <= k; i += 8) v = Max(v, Load(x + i));
        for (int l = 0; l < 8; l++) best = v[l] > best ? v[l] : best;
    }
    for (; i < k; i++) best = x[i] > best ? x[i] : best;
    return best;
}

// d[i] = max(x[i] − shift, ExpFloor) for the n = rows·k entries of rows whose shifts are given per row (a shift of
// −∞ marks a row that is entirely −∞: its entries become ExpFloor).
inline void ShiftedDifferences(const float* x, const float* shifts, int64_t rows, int64_t k, float* d) {
    const V8 floor = Splat(ExpFloor);
    for (int64_t r = 0; r < rows; r++) {
        const float* xr = x + r * k;
        float* dr = d + r * k;
        float shift = shifts[r];
        if (shift == NegativeInfinity) {
            for (int64_t i = 0; i < k; i++) dr[i] = ExpFloor;
            continue;
        }
        const V8 s = Splat(shift);
        int64_t i = 0;
        for (; i + 8 <= k; i += 8) Store(dr + i, Max(Load(xr + i) - s, floor));
        for (; i < k; i++) {
            float v = xr[i] - shift;
            dr[i] = v > ExpFloor ? v : ExpFloor;
        }
    }
}

// e[i] = exp(d[i]) for d in [ExpFloor, 0], exactly 0 where d is ExpFloor (one vectorised call for the whole block).
inline void FlushedExp(const float* d, float* e, int64_t n) {
    circuits::ExpOfFinite(d, e, n);
    const V8 floor = Splat(ExpFloor), zero = Splat(0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        V8 dv = Load(d + i);
        Store(e + i, dv > floor ? Load(e + i) : zero);
    }
    for (; i < n; i++)
        if (d[i] <= ExpFloor) e[i] = 0.0f;
}

// c[i] = max(z[i], FLT_MIN), then l[i] = log(c[i]) (one vectorised call for the whole block).
inline void ClampedLog(const float* z, float* c, float* l, int64_t n) {
    const V8 tiny = Splat(std::numeric_limits<float>::min());
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) Store(c + i, Max(Load(z + i), tiny));
    for (; i < n; i++) c[i] = z[i] > std::numeric_limits<float>::min() ? z[i] : std::numeric_limits<float>::min();
    circuits::LogOfPositive(c, l, n);
}

// y[j] += (z[j] > 0 ? l[j] : −∞) + shift.
inline void AddLog(const float* z, const float* l, float shift, float* y, int64_t o) {
    const V8 s = Splat(shift), zero = Splat(0.0f), minusInfinity = Splat(NegativeInfinity);
    int64_t j = 0;
    for (; j + 8 <= o; j += 8) Store(y + j, Load(y + j) + (Load(z + j) > zero ? Load(l + j) + s : minusInfinity));
    for (; j < o; j++) y[j] += z[j] > 0.0f ? l[j] + shift : NegativeInfinity;
}

// t[j] = z[j] > 0 ? g[j] / z[j] : 0.
inline void Quotients(const float* g, const float* z, float* t, int64_t n) {
    const V8 zero = Splat(0.0f), one = Splat(1.0f);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        V8 zv = Load(z + j);
        auto positive = zv > zero;
        Store(t + j, positive ? Load(g + j) / (positive ? zv : one) : zero);
    }
    for (; j < n; j++) t[j] = z[j] > 0.0f ? g[j] / z[j] : 0.0f;
}

}  // namespace

namespace {

// A small GEMM with a 6×16 register-blocked micro-kernel: C[r][c] (+)= Σ_p A(r, p)·B[p][c], with
// A(r, p) = a[r·rs + p·ps] (so a transposed A costs nothing), B row-major with leading dimension ldb, C row-major
// with ldc.

template <int R>
inline void Micro16(const float* __restrict a, int64_t rs, int64_t ps, const float* __restrict bm, int64_t ldb, int64_t depth,
                    float* __restrict c, int64_t ldc, bool accumulate) {
    V8 c0[R], c1[R];
    for (int r = 0; r < R; r++) c0[r] = c1[r] = Splat(0.0f);
    for (int64_t p = 0; p < depth; p++) {
        V8 b0 = Load(bm + p * ldb), b1 = Load(bm + p * ldb + 8);
        for (int r = 0; r < R; r++) {
            V8 s = Splat(a[r * rs + p * ps]);
            c0[r] += s * b0;
            c1[r] += s * b1;
        }
    }
    for (int r = 0; r < R; r++) {
        if (accumulate) {
            c0[r] += Load(c + r * ldc);
            c1[r] += Load(c + r * ldc + 8);
        }
        Store(c + r * ldc, c0[r]);
        Store(c + r * ldc + 8, c1[r]);
    }
}

template <int R>
inline void Micro8(const float* __restrict a, int64_t rs, int64_t ps, const float* __restrict bm, int64_t ldb, int64_t depth,
                   float* __restrict c, int64_t ldc, bool accumulate) {
    V8 c0[R];
    for (int r = 0; r < R; r++) c0[r] = Splat(0.0f);
    for (int64_t p = 0; p < depth; p++) {
        V8 b0 = Load(bm + p * ldb);
        for (int r = 0; r < R; r++) c0[r] += Splat(a[r * rs + p * ps]) * b0;
    }
    for (int r = 0; r < R; r++) {
        if (accumulate) c0[r] += Load(c + r * ldc);
        Store(c + r * ldc, c0[r]);
    }
}

template <int R>
inline void Rows(const float* a, int64_t rs, int64_t ps, const float* bm, int64_t ldb, int64_t depth, int64_t n,
                 float* c, int64_t ldc, bool accumulate) {
    int64_t col = 0;
    for (; col + 16 <= n; col += 16) Micro16<R>(a, rs, ps, bm + col, ldb, depth, c + col, ldc, accumulate);
    for (; col + 8 <= n; col += 8) Micro8<R>(a, rs, ps, bm + col, ldb, depth, c + col, ldc, accumulate);
    for (; col < n; col++)
        for (int r = 0; r < R; r++) {
            float sum = accumulate ? c[r * ldc + col] : 0.0f;
            for (int64_t p = 0; p < depth; p++) sum += a[r * rs + p * ps] * bm[p * ldb + col];
            c[r * ldc + col] = sum;
        }
}

// C (m × n) (+)= A (m × depth) · B (depth × n).
void Gemm(const float* a, int64_t rs, int64_t ps, int64_t m, const float* bm, int64_t ldb, int64_t depth, int64_t n,
          float* c, int64_t ldc, bool accumulate) {
    int64_t r0 = 0;
    for (; r0 + 6 <= m; r0 += 6) Rows<6>(a + r0 * rs, rs, ps, bm, ldb, depth, n, c + r0 * ldc, ldc, accumulate);
    const float* ar = a + r0 * rs;
    float* cr = c + r0 * ldc;
    switch (m - r0) {
        case 5: Rows<5>(ar, rs, ps, bm, ldb, depth, n, cr, ldc, accumulate); break;
        case 4: Rows<4>(ar, rs, ps, bm, ldb, depth, n, cr, ldc, accumulate); break;
        case 3: Rows<3>(ar, rs, ps, bm, ldb, depth, n, cr, ldc, accumulate); break;
        case 2: Rows<2>(ar, rs, ps, bm, ldb, depth, n, cr, ldc, accumulate); break;
        case 1: Rows<1>(ar, rs, ps, bm, ldb, depth, n, cr, ldc, accumulate); break;
        default: break;
    }
}

// wt[j][i] = w[i][j]: a slot's matrix transposed, so the input gradient is a Gemm with contiguous rows.
void Transpose(const float* w, float* wt, int64_t k, int64_t o) {
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = 0; j < o; j++) wt[j * k + i] = w[i * o + j];
}

}  // namespace

extern "C" {

/// Version of this ABI; the managed side refuses a library with another version.
CIRCUITS_EXPORT int32_t circuits_native_abi_version() { return 3; }

/// Forward for the folds [foldBegin, foldEnd): y (F, B, O); when z and e are not null, also the linear sums
/// z (F, H, B, O) and the shifted exponentials e (F, H, B, K) that the backward pass reads (then it needs neither x
/// nor an exp). Without them (inference) one slot's worth of scratch is used.
CIRCUITS_EXPORT
int32_t circuits_cp_forward(const float* const* rows, int64_t batch, int64_t k, const uint8_t* mask,
                            const float* w, int64_t wFold, int64_t wSlot, int64_t folds, int64_t arity, int64_t o,
                            float* y, float* z, float* e, int64_t foldBegin, int64_t foldEnd) {
    if (foldBegin < 0 || foldEnd > folds || k <= 0 || o <= 0 || (z == nullptr) != (e == nullptr)) return -1;
    bool save = z != nullptr;
    std::vector<float> d(batch * k), shifts(batch), clamped(batch * o), logs(batch * o),
        exps(save ? 0 : batch * k), sums(save ? 0 : batch * o);
    for (int64_t f = foldBegin; f < foldEnd; f++) {
        float* yf = y + f * batch * o;
        std::memset(yf, 0, sizeof(float) * batch * o);
        for (int64_t h = 0; h < arity; h++) {
            int64_t slot = f * arity + h;
            float* es = save ? e + slot * batch * k : exps.data();
            float* zs = save ? z + slot * batch * o : sums.data();
            if (mask != nullptr && mask[slot] == 0) {
                if (save) {
                    std::memset(es, 0, sizeof(float) * batch * k);
                    std::memset(zs, 0, sizeof(float) * batch * o);
                }
                continue;
            }
            const float* xs = rows[slot];
            for (int64_t b = 0; b < batch; b++) shifts[b] = RowMax(xs + b * k, k);
            ShiftedDifferences(xs, shifts.data(), batch, k, d.data());
            FlushedExp(d.data(), es, batch * k);
            Gemm(es, k, 1, batch, w + f * wFold + h * wSlot, o, k, o, zs, o, false);
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
    if (foldBegin < 0 || foldEnd > folds) return -1;
    for (int64_t f = foldBegin; f < foldEnd; f++)
        for (int64_t h = 0; h < arity; h++) {
            int64_t slot = f * arity + h;
            float* gm = gw + slot * k * o;
            float* ts = t + slot * batch * o;
            if (mask != nullptr && mask[slot] == 0) {
                std::memset(gm, 0, sizeof(float) * k * o);
                std::memset(ts, 0, sizeof(float) * batch * o);
                continue;
            }
            Quotients(g + f * batch * o, z + slot * batch * o, ts, batch * o);
            // gm (k × o) = eᵀ (k × batch) · t (batch × o): A(i, b) = e[b·k + i].
            Gemm(e + slot * batch * k, 1, k, k, ts, o, batch, o, gm, o, false);
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
    if (batchBegin < 0 || batchEnd > batch) return -1;
    int64_t n = batchEnd - batchBegin;
    std::vector<float> dots(n * k), wt(k * o);
    for (int64_t f = 0; f < folds; f++)
        for (int64_t h = 0; h < arity; h++) {
            int64_t slot = f * arity + h;
            if (mask != nullptr && mask[slot] == 0) continue;
            Transpose(w + f * wFold + h * wSlot, wt.data(), k, o);
            Gemm(t + (slot * batch + batchBegin) * o, o, 1, n, wt.data(), k, o, k, dots.data(), k, false);
            const float* es = e + (slot * batch + batchBegin) * k;
            float* gxs = grads[slot] + batchBegin * k;
            for (int64_t q = 0; q < n * k; q++) gxs[q] += es[q] * dots[q];
        }
    return 0;
}

}  // extern "C"
