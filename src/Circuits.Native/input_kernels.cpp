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
#include <cstdint>
#include <cstring>

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
                std::memcpy(out, first, sizeof(float) * units);
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
