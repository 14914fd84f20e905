// CPU kernels for the categorical input layer: the gather of each pixel's log-probabilities from the layer's table
// (summed over the channels) and its backward pass, a scatter-add into the table's gradient. Same conventions as
// cp_kernels.cpp: called through a C ABI on the tensors' memory by Microsoft.ML.Circuits.Engine
// (Kernels/NativeInputKernel.cs), which runs ranges of variables on its own threads; ranges of variables write
// disjoint parts of the output and of the gradient, so no two threads write the same float.
//
// Layouts (row-major):
//   table  (D, C, N, P·K)  float32 log-probabilities of every value of every channel of every variable
//   x      (B, D, C)       int64 values in [0, N)
//   y      (D·P, B, K)     float32: y[d·P + p, b, k] = Σ_c table[d, c, x[b, d, c], p·K + k]
//   g      (D·P, B, K)     float32 gradient of y
//   gt     (D, C, N, P·K)  float32 gradient of the table; the backward pass adds into it (the caller zeroes it)
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "vector_math.h"

#define CIRCUITS_EXPORT __attribute__((visibility("default")))

namespace {

/// 0 when the arguments describe the variables [begin, end) of a layer and every value of theirs is a category (the
/// kernels index the table with them); −1 for bad arguments, −2 for a value outside [0, N).
int32_t Check(const int64_t* x, int64_t batch, int64_t variables, int64_t channels, int64_t categories, int64_t replicas,
              int64_t units, int64_t begin, int64_t end) {
    if (begin < 0 || end > variables || channels <= 0 || categories <= 0 || replicas <= 0 || units <= 0) return -1;
    for (int64_t b = 0; b < batch; b++) {
        const int64_t* row = x + (b * variables + begin) * channels;
        for (int64_t i = 0; i < (end - begin) * channels; i++)
            if (row[i] < 0 || row[i] >= categories) return -2;
    }
    return 0;
}

}  // namespace

extern "C" {

/// Forward for the variables [begin, end). Returns −1 for bad arguments, −2 when a value is not in [0, N).
CIRCUITS_EXPORT
int32_t circuits_input_forward(const float* table, const int64_t* x, int64_t batch, int64_t variables, int64_t channels,
                               int64_t categories, int64_t replicas, int64_t units, float* y, int64_t begin, int64_t end) {
    if (int32_t code = Check(x, batch, variables, channels, categories, replicas, units, begin, end)) return code;
    int64_t width = replicas * units;
    for (int64_t d = begin; d < end; d++) {
        for (int64_t b = 0; b < batch; b++) {
            const int64_t* values = x + (b * variables + d) * channels;
            for (int64_t p = 0; p < replicas; p++) {
                float* out = y + ((d * replicas + p) * batch + b) * units;
                const float* first = table + ((d * channels) * categories + values[0]) * width + p * units;
                circuits::Copy(first, out, units);
                for (int64_t c = 1; c < channels; c++) {
                    const float* row = table + ((d * channels + c) * categories + values[c]) * width + p * units;
                    for (int64_t k = 0; k < units; k++) out[k] += row[k];
                }
            }
        }
    }
    return 0;
}

/// Backward for the variables [begin, end): gt[d, c, x[b, d, c], p·K + k] += g[d·P + p, b, k]. Returns −1 for bad
/// arguments, −2 when a value is not in [0, N).
CIRCUITS_EXPORT
int32_t circuits_input_backward(const float* g, const int64_t* x, int64_t batch, int64_t variables, int64_t channels,
                                int64_t categories, int64_t replicas, int64_t units, float* gt, int64_t begin,
                                int64_t end) {
    if (int32_t code = Check(x, batch, variables, channels, categories, replicas, units, begin, end)) return code;
    int64_t width = replicas * units;
    for (int64_t d = begin; d < end; d++) {
        for (int64_t b = 0; b < batch; b++) {
            const int64_t* values = x + (b * variables + d) * channels;
            for (int64_t c = 0; c < channels; c++) {
                float* row = gt + ((d * channels + c) * categories + values[c]) * width;
                for (int64_t p = 0; p < replicas; p++) {
                    const float* in = g + ((d * replicas + p) * batch + b) * units;
                    float* target = row + p * units;
                    for (int64_t k = 0; k < units; k++) target[k] += in[k];
                }
            }
        }
    }
    return 0;
}

}  // extern "C"

// The input layer, its input regions and the conversion to the engine's scaled-linear values, fused, from the logits
// θ (the layer's parameter, same layout as the table) instead of a log-softmax table:
//   1. per variable d and channel c, the log-normalisers lse[d, c, j] = log Σ_n exp θ[d, c, n, j] over the categories
//      (j = p·K + k) — circuits_input_normalisers, parallel over variables;
//   2. per input region r (a sum of the input layer's rows i = d·P + p: one row for quad graphs and trees, a patch of
//      pixels for Poon–Domingos) and image b, v[k] = Σ_{i ∈ r} Σ_c θ[d, c, x[b, d, c], p·K + k] − lse[d, c, p·K + k]
//      straight into a scaled-linear row of y (R, B, K + 1) (ToScaledRows: exp(v − max v), then the log-scale max v)
//      — circuits_input_scaled_forward, parallel over regions.
// Unfused, libtorch's log-softmax wrote the whole (D, C, N, P·K) table, the gather copied rows out of it, the regions'
// sums concatenated, gathered and added them, and the conversion read the sums again.
//
// The backward pass, with gy the gradient of y (scale column ignored: the log-scale is a constant to autograd) and
// gv = gy·y the gradient of v: gθ[d, c, n, j] = S[d, c, n, j] − softmax θ[d, c, n, j] · T[d, c, j], S the scatter-add
// of gv over the regions holding row d·P + p at the pixels' values and T[d, c, j] the plain sum of the same gv —
// log-softmax's backward and the gather's together, one variable at a time (a row's regions are listed per row, so
// variables never write the same memory), each variable's block of gθ written once: no zero-filled table, no sort.
//
//   theta      (D, C, N, P·K)   float32 logits
//   xt         (D, B, C)        int64 values in [0, N): the pixels variable-major (the engine transposes the batch once,
//                               so a variable's values for all images are contiguous — read image-major, each image's
//                               value of one variable sat 8·D·C bytes from the next, a cache line and often a page each)
//   lse        (D, C, P·K)      float32 log-normalisers, written by step 1 and read by step 2 and the backward pass
//   regionRows (R, A)           int64 rows of each region, −1 after its last (A: the most rows of a region)
//   rowOffsets (D·P + 1)        int64: the regions holding row i are rowRegions[rowOffsets[i] .. rowOffsets[i + 1])
//   rowRegions                  int64 (a region listed once per time it holds the row)
//   y, gy      (R, B, K + 1)    float32 scaled-linear input regions and their gradient
//   gtheta     (D, C, N, P·K)   float32 gradient of the logits, overwritten
namespace {

using namespace circuits;

// lse[j] = log Σ_v exp θ[v, j] for the n × width block θ (one channel of one variable): the column maxima m, then
// m + log Σ_v exp(θ[v, j] − m). A column whose maximum is not finite (an infinite or NaN logit) gets that maximum,
// so its log-probabilities come out NaN or infinite as libtorch's log-softmax gives them. scratch: 2·(n + 1)·width floats.
void LogNormalisers(const float* theta, int64_t n, int64_t width, float* lse, float* scratch) {
    float* d = scratch;
    float* e = scratch + n * width;
    std::memcpy(lse, theta, sizeof(float) * width);   // the maxima first
    for (int64_t v = 1; v < n; v++) MaxInto(theta + v * width, lse, width);
    for (int64_t v = 0; v < n; v++) Differences(theta + v * width, lse, d + v * width, width);
    FlushedExp(d, e, n * width);
    float* sums = e + n * width;
    float* clamped = sums + width;
    std::memcpy(sums, e, sizeof(float) * width);
    for (int64_t v = 1; v < n; v++) AddInto(e + v * width, sums, width);
    ClampedLog(sums, clamped, d, width);   // d: the logs (the differences are no longer needed)
    for (int64_t j = 0; j < width; j++)
        if (std::isfinite(lse[j])) lse[j] += d[j];
}

// lse of variable d, every channel (LogNormalisers per channel block).
void VariableNormalisers(const float* theta, int64_t d, int64_t channels, int64_t categories, int64_t width, float* lse,
                         float* scratch) {
    for (int64_t c = 0; c < channels; c++)
        LogNormalisers(theta + (d * channels + c) * categories * width, categories, width, lse + (d * channels + c) * width,
                       scratch);
}

struct InputShape {
    int64_t batch, variables, channels, categories, replicas, units;
    int64_t Width() const { return replicas * units; }
};

// 0 when every value of the variables [begin, end) of xt is in [0, N); −2 otherwise.
int32_t CheckVariableMajor(const int64_t* xt, int64_t batch, int64_t channels, int64_t categories, int64_t begin, int64_t end) {
    for (int64_t i = begin * batch * channels; i < end * batch * channels; i++)
        if (xt[i] < 0 || xt[i] >= categories) return -2;
    return 0;
}

// v (B, K) += the log-probabilities of row i = d·P + p: Σ_c θ[d, c, xt[d, b, c], p·K + k] − lse[d, c, p·K + k]
// (written instead of added when first).
void AddLogProbabilities(const float* theta, const float* lse, const int64_t* xt, const InputShape& s, int64_t row, bool first,
                         float* v) {
    int64_t d = row / s.replicas, p = row % s.replicas, width = s.Width();
    constexpr int64_t Ahead = 8;   // images ahead whose entries are prefetched: the values are random rows of θ
    for (int64_t b = 0; b < s.batch; b++) {
        const int64_t* values = xt + (d * s.batch + b) * s.channels;
        if (b + Ahead < s.batch)
            for (int64_t c = 0; c < s.channels; c++)
                __builtin_prefetch(theta + ((d * s.channels + c) * s.categories + values[Ahead * s.channels + c]) * width + p * s.units);
        float* out = v + b * s.units;
        for (int64_t c = 0; c < s.channels; c++) {
            const float* entry = theta + ((d * s.channels + c) * s.categories + values[c]) * width + p * s.units;
            const float* normaliser = lse + (d * s.channels + c) * width + p * s.units;
            if (first && c == 0) Subtract(entry, normaliser, out, s.units);
            else {
                AddInto(entry, out, s.units);
                SubtractFrom(normaliser, out, s.units);
            }
        }
    }
}

}  // namespace

extern "C" {

/// Step 1 for the variables [begin, end): lse (see above). Returns −1 for bad arguments.
CIRCUITS_EXPORT
int32_t circuits_input_normalisers(const float* theta, int64_t variables, int64_t channels, int64_t categories, int64_t width,
                                   float* lse, int64_t begin, int64_t end) {
    FlushSubnormals flush;
    if (begin < 0 || end > variables || channels <= 0 || categories <= 0 || width <= 0) return -1;
    std::vector<float> scratch(2 * (categories + 1) * width);
    for (int64_t d = begin; d < end; d++) VariableNormalisers(theta, d, channels, categories, width, lse, scratch.data());
    return 0;
}

/// Step 2 for the regions [begin, end): y (see above). Returns −1 for bad arguments (a row outside [0, D·P)), −2 when a
/// value is not in [0, N). With regionRows null the regions are the rows themselves, in order (quad graphs and trees,
/// random binary trees): then [begin, end) are variables, and step 1 runs here for each variable right before its
/// rows (lse written as by circuits_input_normalisers), while its logits are still in the cache — run as two passes,
/// the gather met each variable's logits again after every other variable's had gone through the cache.
CIRCUITS_EXPORT
int32_t circuits_input_scaled_forward(const float* theta, float* lse, const int64_t* xt, int64_t batch, int64_t variables,
                                      int64_t channels, int64_t categories, int64_t replicas, int64_t units,
                                      const int64_t* regionRows, int64_t regions, int64_t arity, float* y, int64_t begin,
                                      int64_t end) {
    FlushSubnormals flush;
    if (begin < 0 || arity <= 0 || channels <= 0 || categories <= 0 || replicas <= 0 || units <= 0) return -1;
    if (regionRows == nullptr ? end > variables || regions != variables * replicas || arity != 1 : end > regions) return -1;
    InputShape shape{batch, variables, channels, categories, replicas, units};
    std::vector<float> v(batch * units), rowScratch(3 * ToScaledChunk * units);
    if (regionRows == nullptr) {
        int64_t width = replicas * units;
        std::vector<float> scratch(2 * (categories + 1) * width);
        for (int64_t d = begin; d < end; d++) {
            if (int32_t code = CheckVariableMajor(xt, batch, channels, categories, d, d + 1)) return code;
            VariableNormalisers(theta, d, channels, categories, width, lse, scratch.data());
            for (int64_t p = 0; p < replicas; p++) {
                int64_t row = d * replicas + p;
                AddLogProbabilities(theta, lse, xt, shape, row, true, v.data());
                ToScaledRows(v.data(), batch, units, y + row * batch * (units + 1), rowScratch.data());
            }
        }
        return 0;
    }
    for (int64_t r = begin; r < end; r++) {
        bool first = true;
        for (int64_t a = 0; a < arity; a++) {
            int64_t row = regionRows[r * arity + a];
            if (row < 0) break;
            if (row >= variables * replicas) return -1;
            int64_t d = row / replicas;
            if (int32_t code = CheckVariableMajor(xt, batch, channels, categories, d, d + 1)) return code;
            AddLogProbabilities(theta, lse, xt, shape, row, first, v.data());
            first = false;
        }
        if (first) std::fill(v.begin(), v.end(), 0.0f);   // a region of no rows: log 1
        ToScaledRows(v.data(), batch, units, y + r * batch * (units + 1), rowScratch.data());
    }
    return 0;
}

/// Backward for the variables [begin, end): gtheta (see above), overwritten. Returns −1 for bad arguments, −2 when a
/// value is not in [0, N).
CIRCUITS_EXPORT
int32_t circuits_input_scaled_backward(const float* gy, const float* y, const float* theta, const float* lse, const int64_t* xt,
                                       int64_t batch, int64_t variables, int64_t channels, int64_t categories, int64_t replicas,
                                       int64_t units, const int64_t* rowOffsets, const int64_t* rowRegions, int64_t regions,
                                       float* gtheta, int64_t begin, int64_t end) {
    FlushSubnormals flush;
    if (begin < 0 || end > variables || channels <= 0 || categories <= 0 || replicas <= 0 || units <= 0) return -1;
    if (int32_t code = CheckVariableMajor(xt, batch, channels, categories, begin, end)) return code;
    int64_t width = replicas * units, block = categories * width;
    std::vector<float> totals(channels * width), gv(units), scratch(2 * block);
    for (int64_t d = begin; d < end; d++) {
        float* gd = gtheta + d * channels * block;
        std::memset(gd, 0, sizeof(float) * channels * block);
        std::fill(totals.begin(), totals.end(), 0.0f);
        for (int64_t p = 0; p < replicas; p++) {
            int64_t row = d * replicas + p;
            for (int64_t at = rowOffsets[row]; at < rowOffsets[row + 1]; at++) {
                int64_t region = rowRegions[at];
                if (region < 0 || region >= regions) return -1;
                for (int64_t b = 0; b < batch; b++) {
                    int64_t offset = (region * batch + b) * (units + 1);
                    Multiply(gy + offset, y + offset, gv.data(), units);
                    const int64_t* values = xt + (d * batch + b) * channels;
                    for (int64_t c = 0; c < channels; c++) {
                        AddInto(gv.data(), gd + (c * categories + values[c]) * width + p * units, units);
                        AddInto(gv.data(), totals.data() + c * width + p * units, units);
                    }
                }
            }
        }
        // − softmax · T: softmax θ = exp(θ − lse), one vectorised exp for the channel's block.
        for (int64_t c = 0; c < channels; c++) {
            const float* tc = theta + (d * channels + c) * block;
            const float* normalisers = lse + (d * channels + c) * width;
            float* differences = scratch.data();
            float* softmax = differences + block;
            for (int64_t v = 0; v < categories; v++) Differences(tc + v * width, normalisers, differences + v * width, width);
            FlushedExp(differences, softmax, block);
            float* gc = gd + c * block;
            for (int64_t v = 0; v < categories; v++) MultiplySubtract(softmax + v * width, totals.data() + c * width, gc + v * width, width);
        }
    }
    return 0;
}

}  // extern "C"
