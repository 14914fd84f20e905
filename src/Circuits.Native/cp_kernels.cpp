// Fused CPU kernels for the CP family of folded layers (CP, CP-S, CP-XS) in log space: the gather of each slot's
// input row, the max-shifted exp, the contraction with the slot's weight matrix and the product over the slots
// (a sum of logs), in one pass per fold; and the two halves of the backward pass. Called through a C ABI on the
// tensors' memory by Microsoft.ML.Circuits.Engine (Kernels/NativeCpKernel.cs), which partitions the work into
// ranges and runs the ranges on its own threads; nothing here allocates tensors or spawns threads.
//
// Layouts (all row-major, float32 unless said):
//   x      (R, B, K)   log-values of the concatenated source outputs
//   index  (F·H)       int64 row of x for slot (f, h)
//   mask   (F·H)       uint8, 0 = padded slot (left out of the product); null when no fold is padded
//   w      element (f, h, i, o) at f·wFold + h·wSlot + i·O + o  (wFold = 0 when the matrices are shared by the folds)
//   y      (F, B, O)   output log-values
//   z      (F, H, B, O) linear sums Σ_i w·exp(x_i − m) saved for the backward pass (may be null)
//   m      (F, H, B)   the shifts max_i x_i saved for the backward pass (may be null)
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

// e[i] = exp(x[i] − shift) for a finite shift ≥ every x[i]; differences below −87 (−∞ included) give exactly 0.
// d is scratch of k floats.
inline void ShiftedExp(const float* x, float shift, float* d, float* e, int64_t k) {
    for (int64_t i = 0; i < k; i++) {
        float v = x[i] - shift;
        d[i] = v < -87.0f ? -87.0f : v;
    }
    circuits::ExpOfFinite(d, e, k);
    for (int64_t i = 0; i < k; i++)
        if (x[i] - shift < -87.0f) e[i] = 0.0f;
}

// out[j] = log(z[j]), −∞ where z[j] is 0 (scratch: c, o floats).
inline void Log(const float* z, float* c, float* out, int64_t o) {
    constexpr float Tiny = std::numeric_limits<float>::min();
    for (int64_t j = 0; j < o; j++) c[j] = z[j] < Tiny ? Tiny : z[j];
    circuits::LogOfPositive(c, out, o);
    for (int64_t j = 0; j < o; j++)
        if (z[j] <= 0.0f) out[j] = NegativeInfinity;
}

inline float RowMax(const float* x, int64_t k) {
    float best = NegativeInfinity;
    for (int64_t i = 0; i < k; i++) best = x[i] > best ? x[i] : best;
    return best;
}

}  // namespace

namespace {

// A small GEMM with a 6×16 register-blocked micro-kernel (GCC vector extensions; the library is built for x86-64-v3,
// AVX2 + FMA, which the managed loader checks): C[r][c] (+)= Σ_p A(r, p)·B[p][c], with A(r, p) = a[r·rs + p·ps]
// (so a transposed A costs nothing), B row-major with leading dimension ldb, C row-major with ldc.
typedef float V8 __attribute__((vector_size(32)));
typedef float V8u __attribute__((vector_size(32), aligned(4)));

inline V8 Load(const float* p) { return *reinterpret_cast<const V8u*>(p); }
inline void Store(float* p, V8 v) { *reinterpret_cast<V8u*>(p) = v; }
inline V8 Splat(float v) { return V8{v, v, v, v, v, v, v, v}; }

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

// For the images [b0, b0 + n) of a slot: e (n × k) = exp(x − m) (zeros where m is −∞) and, when t is not null,
// t (n × o) = g / z (zeros where z is 0 or m is −∞).
void SlotRows(const float* x, int64_t batch, int64_t k, int64_t o, int64_t row, int64_t slot, int64_t f, const float* g,
              const float* z, const float* m, int64_t b0, int64_t n, float* d, float* e, float* t) {
    for (int64_t r = 0; r < n; r++) {
        int64_t b = b0 + r;
        float shift = m[slot * batch + b];
        if (shift == NegativeInfinity) {
            std::memset(e + r * k, 0, sizeof(float) * k);
            if (t != nullptr) std::memset(t + r * o, 0, sizeof(float) * o);
            continue;
        }
        ShiftedExp(x + (row * batch + b) * k, shift, d, e + r * k, k);
        if (t == nullptr) continue;
        const float* zr = z + (slot * batch + b) * o;
        const float* gr = g + (f * batch + b) * o;
        for (int64_t j = 0; j < o; j++) t[r * o + j] = zr[j] > 0.0f ? gr[j] / zr[j] : 0.0f;
    }
}

}  // namespace

extern "C" {

/// Version of this ABI; the managed side refuses a library with another version.
CIRCUITS_EXPORT int32_t circuits_native_abi_version() { return 1; }

CIRCUITS_EXPORT
int32_t circuits_cp_forward(const float* x, int64_t batch, int64_t k, const int64_t* index, const uint8_t* mask,
                            const float* w, int64_t wFold, int64_t wSlot, int64_t folds, int64_t arity, int64_t o,
                            float* y, float* z, float* m, int64_t foldBegin, int64_t foldEnd) {
    if (foldBegin < 0 || foldEnd > folds || k <= 0 || o <= 0) return -1;
    std::vector<float> d(k), e(batch * k), sums(z == nullptr ? batch * o : 0), shifts(m == nullptr ? batch : 0),
        clamped(o), logs(o);
    for (int64_t f = foldBegin; f < foldEnd; f++) {
        float* yf = y + f * batch * o;
        std::memset(yf, 0, sizeof(float) * batch * o);
        for (int64_t h = 0; h < arity; h++) {
            int64_t slot = f * arity + h;
            if (mask != nullptr && mask[slot] == 0) continue;
            const float* rows = x + index[slot] * batch * k;
            float* ms = m != nullptr ? m + slot * batch : shifts.data();
            for (int64_t b = 0; b < batch; b++) {
                const float* xr = rows + b * k;
                ms[b] = RowMax(xr, k);
                if (ms[b] == NegativeInfinity) std::memset(&e[b * k], 0, sizeof(float) * k);
                else ShiftedExp(xr, ms[b], d.data(), &e[b * k], k);
            }
            float* zs = z != nullptr ? z + slot * batch * o : sums.data();
            Gemm(e.data(), k, 1, batch, w + f * wFold + h * wSlot, o, k, o, zs, o, false);
            for (int64_t b = 0; b < batch; b++) {
                float* yr = yf + b * o;
                if (ms[b] == NegativeInfinity) {
                    for (int64_t j = 0; j < o; j++) yr[j] = NegativeInfinity;
                    continue;
                }
                Log(zs + b * o, clamped.data(), logs.data(), o);
                for (int64_t j = 0; j < o; j++) yr[j] += logs[j] + ms[b];
            }
        }
    }
    return 0;
}

/// dL/dx for the images [batchBegin, batchEnd): gx[index[f,h], b, i] += exp(x_i − m)·Σ_o w[i,o]·g[f,b,o]/z[o].
/// gx must be zeroed by the caller; rows shared by several slots accumulate (each b belongs to one range).
CIRCUITS_EXPORT
int32_t circuits_cp_backward_input(const float* x, int64_t batch, int64_t k, const int64_t* index, const uint8_t* mask,
                                   const float* w, int64_t wFold, int64_t wSlot, int64_t folds, int64_t arity, int64_t o,
                                   const float* g, const float* z, const float* m, float* gx,
                                   int64_t batchBegin, int64_t batchEnd) {
    if (batchBegin < 0 || batchEnd > batch) return -1;
    int64_t n = batchEnd - batchBegin;
    std::vector<float> d(k), e(n * k), t(n * o), dots(n * k), wt(k * o);
    for (int64_t f = 0; f < folds; f++)
        for (int64_t h = 0; h < arity; h++) {
            int64_t slot = f * arity + h;
            if (mask != nullptr && mask[slot] == 0) continue;
            int64_t row = index[slot];
            Transpose(w + f * wFold + h * wSlot, wt.data(), k, o);
            SlotRows(x, batch, k, o, row, slot, f, g, z, m, batchBegin, n, d.data(), e.data(), t.data());
            Gemm(t.data(), o, 1, n, wt.data(), k, o, k, dots.data(), k, false);
            float* gxs = gx + (row * batch + batchBegin) * k;
            for (int64_t q = 0; q < n * k; q++) gxs[q] += e[q] * dots[q];
        }
    return 0;
}

/// dL/dw per fold for the folds [foldBegin, foldEnd): gw[f, h, i, o] = Σ_b exp(x_i − m)·g[f,b,o]/z[o]; gw is
/// (F, H, K, O) even when the weights are shared (the caller sums over the folds), and is overwritten.
CIRCUITS_EXPORT
int32_t circuits_cp_backward_weight(const float* x, int64_t batch, int64_t k, const int64_t* index, const uint8_t* mask,
                                    int64_t folds, int64_t arity, int64_t o, const float* g, const float* z, const float* m,
                                    float* gw, int64_t foldBegin, int64_t foldEnd) {
    if (foldBegin < 0 || foldEnd > folds) return -1;
    std::vector<float> d(k), e(batch * k), t(batch * o);
    for (int64_t f = foldBegin; f < foldEnd; f++)
        for (int64_t h = 0; h < arity; h++) {
            int64_t slot = f * arity + h;
            float* gm = gw + slot * k * o;
            if (mask != nullptr && mask[slot] == 0) {
                std::memset(gm, 0, sizeof(float) * k * o);
                continue;
            }
            SlotRows(x, batch, k, o, index[slot], slot, f, g, z, m, 0, batch, d.data(), e.data(), t.data());
            // gm (k × o) = eᵀ (k × batch) · t (batch × o): A(i, b) = e[b·k + i].
            Gemm(e.data(), 1, k, k, t.data(), o, batch, o, gm, o, false);
        }
    return 0;
}

}  // extern "C"
