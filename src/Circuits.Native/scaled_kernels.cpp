// Fused CPU kernels for the CP family (CP, CP-XS) and the mixing layers on scaled-linear values: the representation of
// the engine's ScaledLinearSemiring, where a vector of K units is K + 1 floats — K linear values scaled to a maximum
// of 1 (all 0 for the zero vector) and one log-scale s (ZeroScale for the zero vector), value = e^s · linear. Sums
// and products are plain GEMMs and multiplications of the linear parts with the log-scales added, and each output is
// rescaled to a maximum of 1 at the end: no exponential or logarithm touches the units' values (the log-sum-exp
// kernels of cp_kernels.cpp and mixing_kernels.cpp spend as much time on them as on their GEMMs at K = 16). Same
// conventions as those kernels: a C ABI on the tensors' memory, called by Microsoft.ML.Circuits.Engine
// (Kernels/NativeScaledKernels.cs), which runs ranges of the work on its own threads.
//
// Layouts (row-major, float32 unless said):
//   rows      (F·H)        for slot (f, h), the (B, K + 1) block it reads in place in a source; null for a padded slot
//   mask      (F·H)        uint8, 0 = padded slot (left out: the product's or the sum's unit); null when none is
//   y         (F, B, O + 1) output: linear values rescaled to a maximum of 1, then the log-scale
//   maxima    (F, B)       the divisor of each output's rescale (its maximum before it; 1 for the zero vector)
// The log-scales are constants to autograd (detached in the managed semiring, like the shift of the max-subtraction
// trick), so no gradient flows into or out of the scale column; the values and gradients are those of the managed
// ScaledLinearSemiring to float32 rounding.
#include <cmath>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "fast_math.h"

#include "gemm.h"
#include "vector_math.h"

#define CIRCUITS_EXPORT __attribute__((visibility("default")))

using namespace circuits;

namespace {

// out[r] = log m[r] for the rows' maxima m (≥ 0 or NaN): one vectorised call for the normal positive ones, the scalar
// log for the rest (−∞ for 0, NaN for NaN, +∞ for +∞; a subnormal counts as 0 under the kernels' DAZ). scratch: rows floats.
inline void LogsOfMaxima(const float* m, int64_t rows, float* out, float* scratch) {
    constexpr float Smallest = std::numeric_limits<float>::min(), Largest = std::numeric_limits<float>::max();
    for (int64_t r = 0; r < rows; r++) scratch[r] = m[r] >= Smallest && m[r] <= Largest ? m[r] : 1.0f;
    LogOfPositive(scratch, out, rows);
    for (int64_t r = 0; r < rows; r++)
        if (!(m[r] >= Smallest && m[r] <= Largest)) out[r] = m[r] == 0.0f ? NegativeInfinity : std::log(m[r]);
}

// Rescales each of the rows of n linear values p (row r at p + r·n) to a maximum of 1 into y (row r at y + r·ldy, then
// y[n] = scales[r] + the log of the divisor, floored at ZeroScale): zeros and ZeroScale for the zero vector, NaN for a
// vector holding a NaN. divisors (may be null) receives each row's divisor (1 for the zero vector). The logs of the
// divisors are taken in one vectorised call. scratch: 3·rows floats.
inline void RescaleRows(const float* p, int64_t rows, int64_t n, const float* scales, float* y, int64_t ldy, float* divisors,
                        float* scratch) {
    float* maxima = scratch;
    float* logs = scratch + rows;
    for (int64_t r = 0; r < rows; r++) maxima[r] = RowMax(p + r * n, n);
    LogsOfMaxima(maxima, rows, logs, scratch + 2 * rows);
    for (int64_t r = 0; r < rows; r++) {
        const float* pr = p + r * n;
        float* yr = y + r * ldy;
        float m = maxima[r];
        if (m == 0.0f) {
            std::memset(yr, 0, sizeof(float) * n);
            yr[n] = ZeroScale;
            if (divisors != nullptr) divisors[r] = 1.0f;
            continue;
        }
        float inverse = 1.0f / m;
        const V8 rv = Splat(inverse);
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) Store(yr + i, Load(pr + i) * rv);
        for (; i < n; i++) yr[i] = pr[i] * inverse;
        float scale = scales[r] + logs[r];   // NaN stays NaN
        yr[n] = scale > ZeroScale || scale != scale ? scale : ZeroScale;
        if (divisors != nullptr) divisors[r] = m;
    }
}

// v[i] *= 1 / d for the n entries. (One division per row, not per entry: the managed semiring divides each entry,
// which rounds differently by at most an ulp; a vector division per entry cost more than the rows' GEMM here.)
inline void Divide(float* v, float d, int64_t n) {
    const V8 rv = Splat(1.0f / d);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) Store(v + i, Load(v + i) * rv);
    for (; i < n; i++) v[i] *= 1.0f / d;
}

// out[i] = g[i] · (c / d): the gradient of a rescaled row (divisor d), times a factor c.
inline void ScaledQuotient(const float* g, float d, float c, float* out, int64_t n) {
    float r = c / d;
    const V8 rv = Splat(r);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) Store(out + i, Load(g + i) * rv);
    for (; i < n; i++) out[i] = g[i] * r;
}

inline bool Padded(const uint8_t* mask, int64_t slot) { return mask != nullptr && mask[slot] == 0; }

// The CP weight gradient gw[f, h] = Σ_b x_h[b]ᵀ t_h[b] is summed per chunk of GradientChunk images (chunk c: images
// [c·GradientChunk, (c + 1)·GradientChunk), whatever the threads), then the chunks' sums in chunk order — by the weight
// half of the two-pass backward pass and by the fused pass alike, so the two give the same bits, with any thread count.
constexpr int64_t GradientChunk = 64;

inline int64_t GradientChunks(int64_t batch) { return (batch + GradientChunk - 1) / GradientChunk; }

// What the CP backward halves read: the rows each slot read, the weights, the output's gradient g (F, B, O + 1), the
// slots' factors z (F, H, B, O) or null, the slots' divisors (F, H, B) and the outputs' maxima (F, B).
struct CpSlots {
    const float* const* rows;
    int64_t batch, k;
    const uint8_t* mask;
    const float* w;
    int64_t wFold, wSlot, arity, o;
    const float* g;
    const float* z;
    const float* divisors;
    const float* maxima;
    int64_t folds;
    const float* const* mixing;   // the output's gradient deferred by the mixing layer that reads it, or null (below)
};

// The gradient of a CP layer's output row f when the one mixing slot that reads it left it to this layer (the engine's
// deferred gradient, Kernels/DeferredGradient.cs): computed here as circuits_mixing_scaled_backward_input would have
// written it into a zeroed buffer, the same operations, so the same bits — the mixing output's gradient over its
// divisor, times the slot's factor, times the slot's weights. mixing holds 4·F pointers: per output row f, the mixing
// fold's gradient block (B, O + 1) at [f], its divisors (B) at [F + f], the slot's factors (B) at [2F + f] and its
// weights (O) at [3F + f]. out: O floats; scaled: O floats of scratch.
inline void DeferredGradientRow(const float* const* mixing, int64_t folds, int64_t f, int64_t image, int64_t o, float* scaled,
                                float* out) {
    ScaledQuotient(mixing[f] + image * (o + 1), mixing[folds + f][image], mixing[2 * folds + f][image], scaled, o);
    MultiplyFromZero(mixing[3 * folds + f], scaled, out, o);
}

// Scratch for SlotGradients over up to n images: gp (n·O), the slots' gradients (H·n·O, unless the caller gives the
// memory they go to) and, when the factors are computed again, the factors (H·n·O).
struct SlotGradientScratch {
    std::vector<float> gp, t, factors, deferred;
    SlotGradientScratch(int64_t arity, int64_t n, int64_t o, bool recompute, bool gradients)
        : gp(n * o), t(gradients ? arity * n * o : 0), factors(recompute ? arity * n * o : 0), deferred(2 * o) {}
};

// The gradients of fold f's slot GEMM outputs for the images [b0, b0 + n): t_h = g / maxima times the product of the
// other real slots' factors, divided by the slot's divisor — the factors read from z, or computed again as the forward
// pass computed them (the same GEMM rows and division, so the same bits). Returns t, slot h's (n × O) block at
// t + h·n·O (padded slots' left unwritten), in the scratch or, when out is not null, at out (b0 = 0 and n = B: the
// fold's (H, B, O) block of the caller's t). Every value is computed per image by the same operations whatever b0 and n
// are, so the two backward halves, which call it over different ranges, get the same bits.
inline const float* SlotGradients(const CpSlots& c, int64_t f, int64_t b0, int64_t n, SlotGradientScratch& scratch, float* out) {
    int64_t o = c.o, arity = c.arity, batch = c.batch, width = c.k + 1;
    // factors + h·stride: slot h's factor for the range's images.
    const float* factors;
    int64_t stride;
    if (c.z != nullptr) {
        factors = c.z + (f * arity * batch + b0) * o;
        stride = batch * o;
    } else {
        for (int64_t h = 0; h < arity; h++) {
            int64_t slot = f * arity + h;
            if (Padded(c.mask, slot)) continue;
            float* zs = scratch.factors.data() + h * n * o;
            Gemm(c.rows[slot] + b0 * width, width, 1, n, c.w + f * c.wFold + h * c.wSlot, o, c.k, o, zs, o);
            for (int64_t b = 0; b < n; b++)
                if (float d = c.divisors[slot * batch + b0 + b]; d != 1.0f) Divide(zs + b * o, d, o);
        }
        factors = scratch.factors.data();
        stride = n * o;
    }
    float* gp = scratch.gp.data();
    for (int64_t b = 0; b < n; b++) {
        const float* gRow = c.g + (f * batch + b0 + b) * (o + 1);
        if (c.mixing != nullptr) {
            DeferredGradientRow(c.mixing, c.folds, f, b0 + b, o, scratch.deferred.data(), scratch.deferred.data() + o);
            gRow = scratch.deferred.data() + o;
        }
        ScaledQuotient(gRow, c.maxima[f * batch + b0 + b], 1.0f, gp + b * o, o);
    }
    for (int64_t h = 0; h < arity; h++) {
        int64_t slot = f * arity + h;
        if (Padded(c.mask, slot)) continue;
        // t_h = gp · Π_{other real slots} z (the first product reads gp, the rest update t_h in place).
        float* ts = (out != nullptr ? out : scratch.t.data()) + h * n * o;
        const float* factor = gp;
        for (int64_t other = 0; other < arity; other++)
            if (other != h && !Padded(c.mask, f * arity + other)) {
                Multiply(factor, factors + other * stride, ts, n * o);
                factor = ts;
            }
        if (factor != ts) std::memcpy(ts, gp, sizeof(float) * n * o);   // no other real slot
        for (int64_t b = 0; b < n; b++)
            if (float d = c.divisors[slot * batch + b0 + b]; d != 1.0f) Divide(ts + b * o, d, o);
    }
    return out != nullptr ? out : scratch.t.data();
}

}  // namespace

extern "C" {

/// CP family, forward, for the folds [foldBegin, foldEnd): per slot z_h = x_h · w[f, h] (the GEMM reads the linear part of
/// each (B, K + 1) row in place), rescaled to a maximum of 1 per image when the arity is above 2 (so a product of H maxima
/// each as small as the clamp bound cannot leave float32's range), the product over the real slots, then the output's
/// rescale; the log-scale is the sum of the slots' plus the logs of the divisors. When divisors is not null (training),
/// also saved for the backward pass: divisors (F, H, B) the slots' rescales (1 when not rescaled) and maxima (F, B), and
/// when z is not null z (F, H, B, O) the slots' factors as multiplied; a padded slot's z and divisors are left unwritten.
/// Without z the backward pass computes the factors again from the rows and the weights (the same GEMM and division, so
/// the same bits): less memory moved, more arithmetic (the engine chooses, Kernels/NativeScaledKernels.cs).
CIRCUITS_EXPORT
int32_t circuits_cp_scaled_forward(const float* const* rows, int64_t batch, int64_t k, const uint8_t* mask, const float* w,
                                   int64_t wFold, int64_t wSlot, int64_t folds, int64_t arity, int64_t o, float* y, float* z,
                                   float* divisors, float* maxima, int64_t foldBegin, int64_t foldEnd) {
    FlushSubnormals flush;
    if (foldBegin < 0 || foldEnd > folds || k <= 0 || o <= 0 || (maxima == nullptr) != (divisors == nullptr) ||
        (z != nullptr && divisors == nullptr))
        return -1;
    bool save = divisors != nullptr, rescaleSlots = arity > 2;
    int64_t width = k + 1;
    // Without z two scratch blocks for the slots' factors: the first slot's factor stays apart until the second
    // multiplies it.
    std::vector<float> product(batch * o), scale(batch), scratch(z != nullptr ? 0 : 2 * batch * o), slotMaxima(batch),
        slotLogs(batch), rescaleScratch(3 * batch);
    for (int64_t f = foldBegin; f < foldEnd; f++) {
        const float* first = nullptr;   // the first real slot's factor, until a second one arrives
        int64_t real = 0;
        std::fill(scale.begin(), scale.end(), 0.0f);
        for (int64_t h = 0; h < arity; h++) {
            int64_t slot = f * arity + h;
            if (Padded(mask, slot)) continue;
            const float* xs = rows[slot];
            float* zs = z != nullptr ? z + slot * batch * o : scratch.data() + (real % 2) * batch * o;
            Gemm(xs, width, 1, batch, w + f * wFold + h * wSlot, o, k, o, zs, o);
            for (int64_t b = 0; b < batch; b++) scale[b] += xs[b * width + k];
            if (rescaleSlots) {
                for (int64_t b = 0; b < batch; b++) slotMaxima[b] = RowMax(zs + b * o, o);
                // −∞ for a zero slot: the product is then 0 and its scale the floor.
                LogsOfMaxima(slotMaxima.data(), batch, slotLogs.data(), rescaleScratch.data());
                for (int64_t b = 0; b < batch; b++) {
                    float m = slotMaxima[b], d = m == 0.0f ? 1.0f : m;
                    Divide(zs + b * o, d, o);
                    scale[b] += slotLogs[b];
                    if (save) divisors[slot * batch + b] = d;
                }
            } else if (save)
                for (int64_t b = 0; b < batch; b++) divisors[slot * batch + b] = 1.0f;
            // The product over the slots, written by the second factor (no copy of the first).
            if (real == 0) first = zs;
            else Multiply(real == 1 ? first : product.data(), zs, product.data(), batch * o);
            real++;
        }
        if (real == 0) std::fill(product.begin(), product.end(), 1.0f);   // every slot padded: the product's unit
        else if (real == 1) std::memcpy(product.data(), first, sizeof(float) * batch * o);
        RescaleRows(product.data(), batch, o, scale.data(), y + f * batch * (o + 1), o + 1, save ? maxima + f * batch : nullptr,
                    rescaleScratch.data());
    }
    return 0;
}

/// CP family, first half of the backward pass, for the folds [foldBegin, foldEnd): dL/dw per fold gw[f, h] = x_hᵀ · t_h
/// (x_h the linear part of the rows the slot read), t_h the gradient of slot h's GEMM output (SlotGradients); gw is
/// (F, H, K, O) even when the weights are shared (the caller sums over the folds) and is overwritten. g is the output's
/// gradient (F, B, O + 1); its scale column is ignored. z: the slots' factors (F, H, B, O) as the forward pass saved
/// them, or null to compute them again as it computed them. t: where to keep the slots' gradients (F, H, B, O) for the
/// input half, or null to keep nothing (the input half then computes them again; padded slots' are left unwritten).
CIRCUITS_EXPORT
int32_t circuits_cp_scaled_backward_weight(const float* const* rows, int64_t batch, int64_t k, const uint8_t* mask, const float* w,
                                           int64_t wFold, int64_t wSlot, int64_t folds, int64_t arity, int64_t o, const float* g,
                                           const float* z, const float* divisors, const float* maxima, const float* const* mixing,
                                           float* t, float* gw, int64_t foldBegin, int64_t foldEnd) {
    FlushSubnormals flush;
    if (foldBegin < 0 || foldEnd > folds || k <= 0 || o <= 0) return -1;
    int64_t width = k + 1;
    SlotGradientScratch scratch(arity, batch, o, z == nullptr, t == nullptr);
    CpSlots slots{rows, batch, k, mask, w, wFold, wSlot, arity, o, g, z, divisors, maxima, folds, mixing};
    std::vector<float> part(k * o);
    for (int64_t f = foldBegin; f < foldEnd; f++) {
        const float* ts = SlotGradients(slots, f, 0, batch, scratch, t != nullptr ? t + f * arity * batch * o : nullptr);
        for (int64_t h = 0; h < arity; h++) {
            int64_t slot = f * arity + h;
            float* gm = gw + slot * k * o;
            if (Padded(mask, slot)) {
                std::memset(gm, 0, sizeof(float) * k * o);
                continue;
            }
            // Chunk by chunk (see GradientChunk): gm (k × o) = Σ_c x_cᵀ (k × n) · t_c (n × o), A(i, b) = x[b·(k + 1) + i].
            for (int64_t b0 = 0; b0 < batch; b0 += GradientChunk) {
                int64_t n = std::min(GradientChunk, batch - b0);
                Gemm(rows[slot] + b0 * width, 1, width, k, ts + h * batch * o + b0 * o, o, n, o, b0 == 0 ? gm : part.data(), o);
                if (b0 > 0) AddInto(part.data(), gm, k * o);
            }
        }
    }
    return 0;
}

/// CP family, the whole backward pass in one pass for the chunks of images [chunkBegin, chunkEnd) (chunk c: images
/// [64c, 64c + 64), see GradientChunk): per fold and chunk the slots' gradients t (SlotGradients, computed for the chunk
/// and never written out), each slot's share of the weight gradient for the chunk, parts[c, f, h] = x_cᵀ t_c (parts:
/// (C, F, H, K, O), C = ⌈B / 64⌉, overwritten; zeros for padded slots; circuits_sum_chunks adds them up in chunk order),
/// and the input gradient as circuits_cp_scaled_backward_input adds it (the same bits). Where the two-pass form writes
/// the slots' gradients to memory between its halves or computes them twice, this computes them once per chunk and
/// keeps them in cache. The other arguments as circuits_cp_scaled_backward_input's.
CIRCUITS_EXPORT
int32_t circuits_cp_scaled_backward_fused(const float* const* rows, int64_t batch, int64_t k, float* const* grads, const uint8_t* mask,
                                          const float* w, int64_t wFold, int64_t wSlot, int64_t folds, int64_t arity, int64_t o,
                                          const float* g, const float* z, const float* divisors, const float* maxima,
                                          const float* const* mixing, float* parts, int64_t chunkBegin, int64_t chunkEnd) {
    FlushSubnormals flush;
    if (chunkBegin < 0 || chunkEnd > GradientChunks(batch) || k <= 0 || o <= 0) return -1;
    int64_t width = k + 1;
    std::vector<float> wt(arity * k * o);
    SlotGradientScratch scratch(arity, std::min(GradientChunk, batch), o, z == nullptr, true);
    CpSlots slots{rows, batch, k, mask, w, wFold, wSlot, arity, o, g, z, divisors, maxima, folds, mixing};
    for (int64_t f = 0; f < folds; f++) {
        for (int64_t h = 0; h < arity; h++)
            if (!Padded(mask, f * arity + h)) Transpose(w + f * wFold + h * wSlot, wt.data() + h * k * o, k, o);
        for (int64_t c = chunkBegin; c < chunkEnd; c++) {
            int64_t b0 = c * GradientChunk, n = std::min(GradientChunk, batch - b0);
            const float* ts = SlotGradients(slots, f, b0, n, scratch, nullptr);
            for (int64_t h = 0; h < arity; h++) {
                int64_t slot = f * arity + h;
                float* part = parts + (c * folds * arity + slot) * k * o;
                if (Padded(mask, slot)) {
                    std::memset(part, 0, sizeof(float) * k * o);
                    continue;
                }
                Gemm(rows[slot] + b0 * width, 1, width, k, ts + h * n * o, o, n, o, part, o);
                Gemm<true>(ts + h * n * o, o, 1, n, wt.data() + h * k * o, k, o, k, grads[slot] + b0 * width, width);
            }
        }
    }
    return 0;
}

/// out[i] = the sum of parts[c, i] over the chunks c in order ((p0 + p1) + p2 …, as the weight half sums its chunks),
/// for the entries [begin, end) of n; parts is (chunks, n).
CIRCUITS_EXPORT
int32_t circuits_sum_chunks(const float* parts, int64_t chunks, int64_t n, float* out, int64_t begin, int64_t end) {
    if (begin < 0 || end > n || chunks <= 0) return -1;
    Copy(parts + begin, out + begin, end - begin);
    for (int64_t c = 1; c < chunks; c++) AddInto(parts + c * n + begin, out + begin, end - begin);
    return 0;
}

/// CP family, second half, for the images [batchBegin, batchEnd): grads[f·H + h][b, i] += Σ_o w[f, h, i, o]·t_h[b, o]
/// into the linear part of the (B, K + 1) gradient block of the row the slot read (zeroed by the caller; its scale column
/// is left alone). t: the slots' gradients as the weight half kept them, or null to compute them again for the range's
/// images as the weight half computed them (SlotGradients, the same bits), a chunk of images at a time, so they never
/// travel through memory. Blocks read by several slots accumulate in the order of the folds and slots (each image's
/// row whatever the chunks); ranges of images never write the same memory. The other arguments as circuits_cp_scaled_backward_weight's.
CIRCUITS_EXPORT
int32_t circuits_cp_scaled_backward_input(const float* const* rows, int64_t batch, int64_t k, float* const* grads, const uint8_t* mask,
                                          const float* w, int64_t wFold, int64_t wSlot, int64_t folds, int64_t arity, int64_t o,
                                          const float* g, const float* z, const float* divisors, const float* maxima,
                                          const float* const* mixing, const float* t, int64_t batchBegin, int64_t batchEnd) {
    FlushSubnormals flush;
    if (batchBegin < 0 || batchEnd > batch || k <= 0 || o <= 0) return -1;
    constexpr int64_t Chunk = 64;   // images per chunk: the chunk's slot gradients stay in the core's cache
    int64_t width = k + 1;
    std::vector<float> wt(arity * k * o);   // the fold's matrices transposed, so the products have contiguous rows
    // With t kept, one chunk of the whole range, read in place.
    int64_t chunk = t != nullptr ? std::max<int64_t>(batchEnd - batchBegin, 1) : Chunk;
    // No scratch when t is given.
    SlotGradientScratch scratch(arity, t != nullptr ? 0 : std::min(chunk, batchEnd - batchBegin), o, z == nullptr, t == nullptr);
    CpSlots slots{rows, batch, k, mask, w, wFold, wSlot, arity, o, g, z, divisors, maxima, folds, mixing};
    for (int64_t f = 0; f < folds; f++) {
        for (int64_t h = 0; h < arity; h++)
            if (!Padded(mask, f * arity + h)) Transpose(w + f * wFold + h * wSlot, wt.data() + h * k * o, k, o);
        for (int64_t b0 = batchBegin; b0 < batchEnd; b0 += chunk) {
            int64_t n = std::min(chunk, batchEnd - b0);
            // Slot h's (n × O) gradients at ts + h·stride.
            const float* ts = t != nullptr ? t + (f * arity * batch + b0) * o : SlotGradients(slots, f, b0, n, scratch, nullptr);
            int64_t stride = t != nullptr ? batch * o : n * o;
            for (int64_t h = 0; h < arity; h++) {
                int64_t slot = f * arity + h;
                if (Padded(mask, slot)) continue;
                Gemm<true>(ts + h * stride, o, 1, n, wt.data() + h * k * o, k, o, k, grads[slot] + b0 * width, width);
            }
        }
    }
    return 0;
}

/// Mixing, forward, for the folds [foldBegin, foldEnd): y[f, b] = rescale(Σ_h w[f, h]·x_h[b]·e^(s_h − s)), s the
/// largest log-scale among the real slots (0 if it is not finite, as the managed semiring's guarded maximum), output
/// log-scale s plus the log of the rescale's divisor. When factors is not null (training), saved for the backward pass:
/// factors (F, H, B) = e^(s_h − s) (padded slots' unwritten) and maxima (F, B).
CIRCUITS_EXPORT
int32_t circuits_mixing_scaled_forward(const float* const* rows, int64_t batch, int64_t k, const uint8_t* mask, const float* w,
                                       int64_t folds, int64_t arity, float* y, float* factors, float* maxima,
                                       int64_t foldBegin, int64_t foldEnd) {
    FlushSubnormals flush;
    if (foldBegin < 0 || foldEnd > folds || k <= 0) return -1;
    int64_t width = k + 1;
    std::vector<float> sums(batch * k), shifts(batch), slotFactors(arity * batch), differences(batch), rescaleScratch(3 * batch);
    std::vector<int64_t> real(arity);
    for (int64_t f = foldBegin; f < foldEnd; f++) {
        // Slot by slot, each slot's scale column read in order (image by image across the slots, every read was a
        // cache line of another block: 22 % of this kernel's samples at PD-CP K=16 sat on those loads).
        std::fill(shifts.begin(), shifts.end(), NegativeInfinity);
        int64_t reals = 0;
        for (int64_t h = 0; h < arity; h++) {
            if (Padded(mask, f * arity + h)) continue;
            real[reals++] = h;
            const float* xs = rows[f * arity + h];
            for (int64_t b = 0; b < batch; b++) shifts[b] = MaxOrNaN(shifts[b], xs[b * width + k]);
        }
        for (int64_t b = 0; b < batch; b++)
            if (!std::isfinite(shifts[b])) shifts[b] = 0.0f;
        for (int64_t r = 0; r < reals; r++) {
            int64_t slot = f * arity + real[r];
            const float* xs = rows[slot];
            float* sf = slotFactors.data() + r * batch;
            // e^(s_h − s) for the batch: one vectorised exp for the differences in [ExpFloor, ExpCeiling], the scalar
            // exp for the rest (a zero slot's floor scale, NaN, ±∞).
            for (int64_t b = 0; b < batch; b++) {
                float v = xs[b * width + k] - shifts[b];
                differences[b] = v >= ExpFloor && v <= ExpCeiling ? v : 0.0f;
            }
            ExpOfFinite(differences.data(), sf, batch);
            for (int64_t b = 0; b < batch; b++) {
                float v = xs[b * width + k] - shifts[b];
                if (!(v >= ExpFloor && v <= ExpCeiling)) sf[b] = std::exp(v);
            }
            if (factors != nullptr) std::memcpy(factors + slot * batch, sf, sizeof(float) * batch);
        }
        // Image by image, the sum over the slots (in slot order) of x_h[b] ⊙ (w_h · factor) kept in registers: each
        // output row written once.
        for (int64_t b = 0; b < batch; b++) {
            float* sr = sums.data() + b * k;
            int64_t i = 0;
            for (; i + 16 <= k; i += 16) {
                V8 a0 = Splat(0.0f), a1 = Splat(0.0f);
                for (int64_t r = 0; r < reals; r++) {
                    int64_t slot = f * arity + real[r];
                    const float* xr = rows[slot] + b * width + i;
                    const float* wr = w + slot * k + i;
                    V8 factor = Splat(slotFactors[r * batch + b]);
                    a0 += Load(xr) * (Load(wr) * factor);
                    a1 += Load(xr + 8) * (Load(wr + 8) * factor);
                }
                Store(sr + i, a0);
                Store(sr + i + 8, a1);
            }
            for (; i + 8 <= k; i += 8) {
                V8 a0 = Splat(0.0f);
                for (int64_t r = 0; r < reals; r++) {
                    int64_t slot = f * arity + real[r];
                    a0 += Load(rows[slot] + b * width + i) * (Load(w + slot * k + i) * Splat(slotFactors[r * batch + b]));
                }
                Store(sr + i, a0);
            }
            for (; i < k; i++) {
                float a = 0.0f;
                for (int64_t r = 0; r < reals; r++) {
                    int64_t slot = f * arity + real[r];
                    a += rows[slot][b * width + i] * (w[slot * k + i] * slotFactors[r * batch + b]);
                }
                sr[i] = a;
            }
        }
        RescaleRows(sums.data(), batch, k, shifts.data(), y + f * batch * width, width,
                    maxima != nullptr ? maxima + f * batch : nullptr, rescaleScratch.data());
    }
    return 0;
}

/// Mixing, dL/dw for the folds [foldBegin, foldEnd): gw[f, h, i] = Σ_b g[f, b, i] / maxima[f, b] · x_h[b, i] · factors[f, h, b]
/// (0 at padded slots); gw is overwritten.
CIRCUITS_EXPORT
int32_t circuits_mixing_scaled_backward_weight(const float* const* rows, int64_t batch, int64_t k, const uint8_t* mask,
                                               int64_t folds, int64_t arity, const float* g, const float* factors,
                                               const float* maxima, float* gw, int64_t foldBegin, int64_t foldEnd) {
    FlushSubnormals flush;
    if (foldBegin < 0 || foldEnd > folds) return -1;
    int64_t width = k + 1;
    std::vector<float> scaled(k);
    for (int64_t f = foldBegin; f < foldEnd; f++)
        for (int64_t h = 0; h < arity; h++) {
            int64_t slot = f * arity + h;
            float* gws = gw + slot * k;
            std::memset(gws, 0, sizeof(float) * k);
            if (Padded(mask, slot)) continue;
            for (int64_t b = 0; b < batch; b++) {
                ScaledQuotient(g + (f * batch + b) * width, maxima[f * batch + b], factors[slot * batch + b], scaled.data(), k);
                MultiplyAdd(rows[slot] + b * width, scaled.data(), gws, k);
            }
        }
    return 0;
}

/// Mixing, dL/dx for the images [batchBegin, batchEnd): grads[f·H + h][b, i] += g[f, b, i] / maxima[f, b] · w[f, h, i] ·
/// factors[f, h, b], into the linear part of the gradient block of the row the slot read (zeroed by the caller).
CIRCUITS_EXPORT
int32_t circuits_mixing_scaled_backward_input(float* const* grads, int64_t batch, int64_t k, const uint8_t* mask, const float* w,
                                              int64_t folds, int64_t arity, const float* g, const float* factors,
                                              const float* maxima, int64_t batchBegin, int64_t batchEnd) {
    FlushSubnormals flush;
    if (batchBegin < 0 || batchEnd > batch) return -1;
    int64_t width = k + 1;
    std::vector<float> scaled(k);
    for (int64_t f = 0; f < folds; f++)
        for (int64_t h = 0; h < arity; h++) {
            int64_t slot = f * arity + h;
            if (Padded(mask, slot) || grads[slot] == nullptr) continue;   // null: the gradient is deferred to its source's layer
            const float* ws = w + slot * k;
            for (int64_t b = batchBegin; b < batchEnd; b++) {
                ScaledQuotient(g + (f * batch + b) * width, maxima[f * batch + b], factors[slot * batch + b], scaled.data(), k);
                MultiplyAdd(ws, scaled.data(), grads[slot] + b * width, k);
            }
        }
    return 0;
}

}  // extern "C"

extern "C" {

/// Log-values (rows of K) to scaled-linear values (rows of K + 1), for the rows [rowBegin, rowEnd): the shift is the row's
/// maximum (0 where that is not finite, as the managed semiring's guarded maximum), linear = exp(x − shift) (exactly 0 for
/// −∞ and far below the maximum), the log-scale the maximum clamped below at ZeroScale (NaN stays NaN).
CIRCUITS_EXPORT
int32_t circuits_to_scaled(const float* x, int64_t rows, int64_t k, float* y, int64_t rowBegin, int64_t rowEnd) {
    FlushSubnormals flush;
    if (rowBegin < 0 || rowEnd > rows || k <= 0) return -1;
    std::vector<float> scratch(3 * ToScaledChunk * k);
    ToScaledRows(x + rowBegin * k, rowEnd - rowBegin, k, y + rowBegin * (k + 1), scratch.data());
    return 0;
}

/// The backward pass of circuits_to_scaled for the rows [rowBegin, rowEnd): gx[r, i] = gy[r, i]·y[r, i] for i < K (the
/// shift is a constant to autograd; the log-scale column takes no gradient).
CIRCUITS_EXPORT
int32_t circuits_to_scaled_backward(const float* gy, const float* y, int64_t rows, int64_t k, float* gx, int64_t rowBegin,
                                    int64_t rowEnd) {
    FlushSubnormals flush;
    if (rowBegin < 0 || rowEnd > rows || k <= 0) return -1;
    for (int64_t r = rowBegin; r < rowEnd; r++) Multiply(gy + r * (k + 1), y + r * (k + 1), gx + r * k, k);
    return 0;
}

}  // extern "C"
