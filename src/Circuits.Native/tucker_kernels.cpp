// Fused CPU kernels for the Tucker layer in log space: per fold, the max-shifted exps of its two input rows, their
// outer product (built a block of images at a time in a cache-sized scratch, never for the whole batch), the
// contraction with the fold's core tensor and the log; and the backward pass, which rebuilds the outer product block
// by block instead of keeping it. Called through a C ABI on the tensors' memory by Microsoft.ML.Circuits.Engine
// (Kernels/NativeTuckerKernel.cs), which partitions the work into ranges and runs the ranges on its own threads.
//
// Layouts (all row-major, float32):
//   rows   (F·2)        for slot (f, h), h = 0 the left input, 1 the right: the (B, K) block of log-values it reads in
//                       place in one of the layer's sources (Tucker layers are never padded)
//   w      (F, K·K, O)  the core tensors, element (f, i·K + j, o) the weight of the pair (left i, right j) for unit o
//   y      (F, B, O)    output log-values
//   z      (F, B, O)    linear sums Σ_{i,j} w·e_left[i]·e_right[j], saved for the backward pass (may be null)
//   e      (F, 2, B, K) the shifted exponentials exp(x − max x) of both inputs, saved for the backward pass (may be null)
//   ge     (F, 2, B, K) the gradient of each slot's input, written by the backward pass and added into the sources'
//                       gradients by circuits_add_slot_gradients (a source row can be read by several folds)
// An input row entirely −∞ makes the fold's output −∞ (and gives no gradient); −∞ entries elsewhere contribute exactly
// nothing; a NaN input makes the outputs of its image NaN.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gemm.h"
#include "vector_math.h"

#define CIRCUITS_EXPORT __attribute__((visibility("default")))

using namespace circuits;

namespace {

// The outer products of a block of n images: outer[r, i·K + j] = l[r, i]·rt[r, j].
void OuterProducts(const float* l, const float* rt, int64_t n, int64_t k, float* outer) {
    for (int64_t r = 0; r < n; r++) {
        const float* lr = l + r * k;
        const float* rr = rt + r * k;
        float* out = outer + r * k * k;
        for (int64_t i = 0; i < k; i++) {
            const V8 s = Splat(lr[i]);
            float* row = out + i * k;
            int64_t j = 0;
            for (; j + 8 <= k; j += 8) Store(row + j, s * Load(rr + j));
            for (; j < k; j++) row[j] = lr[i] * rr[j];
        }
    }
}

// For one image: gl[i] = l[i]·Σ_j go[i·K + j]·rt[j] and gr[j] = rt[j]·Σ_i go[i·K + j]·l[i], the gradients of the two
// inputs' shifted exponentials' logs from the gradient go (K × K) of the outer product.
void PairGradients(const float* go, const float* l, const float* rt, int64_t k, float* gl, float* gr) {
    std::memset(gr, 0, sizeof(float) * k);
    for (int64_t i = 0; i < k; i++) {
        const float* row = go + i * k;
        const V8 s = Splat(l[i]);
        V8 dot = Splat(0.0f);
        int64_t j = 0;
        for (; j + 8 <= k; j += 8) {
            V8 g = Load(row + j);
            dot += g * Load(rt + j);
            Store(gr + j, Load(gr + j) + s * g);
        }
        float sum = LaneSum(dot);
        for (; j < k; j++) {
            sum += row[j] * rt[j];
            gr[j] += l[i] * row[j];
        }
        gl[i] = l[i] * sum;
    }
    Multiply(gr, rt, gr, k);
}

// Images per block of the outer product: about 64 KB of scratch, at least one image.
int64_t BlockRows(int64_t batch, int64_t k) { return std::max<int64_t>(1, std::min<int64_t>(batch, 16384 / (k * k))); }

}  // namespace

extern "C" {

/// Forward for the folds [foldBegin, foldEnd): y (F, B, O); when z and e are not null, also the linear sums and the
/// shifted exponentials the backward pass reads (without them, inference, one fold's worth of scratch is used).
CIRCUITS_EXPORT
int32_t circuits_tucker_forward(const float* const* rows, int64_t batch, int64_t k, const float* w, int64_t folds, int64_t o,
                                float* y, float* z, float* e, int64_t foldBegin, int64_t foldEnd) {
    FlushSubnormals flush;
    if (foldBegin < 0 || foldEnd > folds || k <= 0 || o <= 0 || (z == nullptr) != (e == nullptr)) return -1;
    bool save = z != nullptr;
    int64_t block = BlockRows(batch, k), pairs = k * k;
    std::vector<float> d(batch * k), shifts(2 * batch), clamped(batch * o), logs(batch * o), outer(block * pairs),
        exps(save ? 0 : 2 * batch * k), sums(save ? 0 : batch * o);
    for (int64_t f = foldBegin; f < foldEnd; f++) {
        float* ef = save ? e + f * 2 * batch * k : exps.data();
        float* zf = save ? z + f * batch * o : sums.data();
        for (int64_t h = 0; h < 2; h++) {
            const float* xs = rows[f * 2 + h];
            float* sh = shifts.data() + h * batch;
            for (int64_t b = 0; b < batch; b++) sh[b] = RowMax(xs + b * k, k);
            ShiftedDifferences(xs, sh, batch, k, d.data());
            FlushedExp(d.data(), ef + h * batch * k, batch * k);
        }
        const float* wf = w + f * pairs * o;
        for (int64_t b0 = 0; b0 < batch; b0 += block) {
            int64_t n = std::min(block, batch - b0);
            OuterProducts(ef + b0 * k, ef + (batch + b0) * k, n, k, outer.data());
            Gemm(outer.data(), pairs, 1, n, wf, o, pairs, o, zf + b0 * o, o);
        }
        ClampedLog(zf, clamped.data(), logs.data(), batch * o);
        float* yf = y + f * batch * o;
        std::memset(yf, 0, sizeof(float) * batch * o);
        // A NaN shift (a NaN input) makes the image's outputs NaN; a −∞ one (a row entirely −∞) gives z = 0, so −∞.
        for (int64_t b = 0; b < batch; b++) AddLog(zf + b * o, logs.data() + b * o, shifts[b] + shifts[batch + b], yf + b * o, o);
    }
    return 0;
}

/// Backward pass for the folds [foldBegin, foldEnd): with t = g / z (0 where z is 0), the core tensors' gradient
/// gw[f] = Σ_b outer[b]ᵀ·t[b] (overwritten) and the slots' input gradients ge (overwritten).
CIRCUITS_EXPORT
int32_t circuits_tucker_backward(int64_t batch, int64_t k, const float* w, int64_t folds, int64_t o, const float* g,
                                 const float* z, const float* e, float* gw, float* ge, int64_t foldBegin, int64_t foldEnd) {
    FlushSubnormals flush;
    if (foldBegin < 0 || foldEnd > folds || k <= 0 || o <= 0) return -1;
    int64_t block = BlockRows(batch, k), pairs = k * k;
    std::vector<float> t(batch * o), wt(o * pairs), outer(block * pairs), go(block * pairs);
    for (int64_t f = foldBegin; f < foldEnd; f++) {
        const float* ef = e + f * 2 * batch * k;
        const float* el = ef;
        const float* er = ef + batch * k;
        float* gwf = gw + f * pairs * o;
        float* gl = ge + f * 2 * batch * k;
        float* gr = gl + batch * k;
        Quotients(g + f * batch * o, z + f * batch * o, t.data(), batch * o);
        Transpose(w + f * pairs * o, wt.data(), pairs, o);
        for (int64_t b0 = 0; b0 < batch; b0 += block) {
            int64_t n = std::min(block, batch - b0);
            OuterProducts(el + b0 * k, er + b0 * k, n, k, outer.data());
            // gw (pairs × o) (+)= outerᵀ (pairs × n) · t (n × o): A(r, p) = outer[p·pairs + r].
            if (b0 == 0) Gemm<false>(outer.data(), 1, pairs, pairs, t.data() + b0 * o, o, n, o, gwf, o);
            else Gemm<true>(outer.data(), 1, pairs, pairs, t.data() + b0 * o, o, n, o, gwf, o);
            // The outer product's gradient (n × pairs) = t (n × o) · wᵀ (o × pairs).
            Gemm(t.data() + b0 * o, o, 1, n, wt.data(), pairs, o, pairs, go.data(), pairs);
            for (int64_t r = 0; r < n; r++) {
                int64_t b = b0 + r;
                PairGradients(go.data() + r * pairs, el + b * k, er + b * k, k, gl + b * k, gr + b * k);
            }
        }
    }
    return 0;
}

/// For the images [batchBegin, batchEnd): grads[s][b, ·] += ge[s, b, ·] for each of the slots s; grads[s] is the (B, K)
/// gradient block of the row slot s read. Blocks read by several slots accumulate (each image belongs to one range,
/// so ranges never write the same memory).
CIRCUITS_EXPORT
int32_t circuits_add_slot_gradients(float* const* grads, const float* ge, int64_t slots, int64_t batch, int64_t k,
                                    int64_t batchBegin, int64_t batchEnd) {
    if (batchBegin < 0 || batchEnd > batch || k <= 0) return -1;
    int64_t n = (batchEnd - batchBegin) * k;
    for (int64_t s = 0; s < slots; s++) {
        const float* src = ge + (s * batch + batchBegin) * k;
        float* dst = grads[s] + batchBegin * k;
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) Store(dst + i, Load(dst + i) + Load(src + i));
        for (; i < n; i++) dst[i] += src[i];
    }
    return 0;
}

}  // extern "C"
