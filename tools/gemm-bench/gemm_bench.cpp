// The native GEMM's row and column blocking on AVX-512, timed on the shapes of the CP kernels (one slot of one fold,
// batch 256): gemm_avx512.cpp as it is (6 × 32 blocks, then 8 × 16) against the 6 × 16 blocks it had before (the
// baseline below, the same micro-kernel as gemm_avx512.cpp's 16-column one), interleaved in one process on data in
// cache, median of the repetitions, and a check that both give the same bits. docs/benchmarks.md records its results.
//
//   g++ -O3 -std=c++17 -march=x86-64-v4 -mprefer-vector-width=512 -I src/Circuits.Native \
//       tools/gemm-bench/gemm_bench.cpp src/Circuits.Native/gemm_avx512.cpp -o /tmp/gemm-bench && /tmp/gemm-bench
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "gemm_rows.h"

namespace circuits {
void GemmAvx512(bool accumulate, const float* a, int64_t rs, int64_t ps, int64_t m, const float* bm, int64_t ldb,
                int64_t depth, int64_t n16, float* c, int64_t ldc);
}

namespace {

typedef float V16 __attribute__((vector_size(64)));
typedef float V16u __attribute__((vector_size(64), aligned(4)));

// The baseline: every 16-column block in blocks of 6 rows, one accumulator per row.
template <int R, bool Accumulate>
void Block6x16(const float* a, int64_t rs, int64_t ps, const float* bm, int64_t ldb, int64_t depth, int64_t n, float* c,
               int64_t ldc) {
    for (int64_t col = 0; col + 16 <= n; col += 16) {
        V16 acc[R];
        for (int r = 0; r < R; r++) acc[r] = Accumulate ? *reinterpret_cast<const V16u*>(c + r * ldc + col) : V16{};
        for (int64_t p = 0; p < depth; p++) {
            V16 b = *reinterpret_cast<const V16u*>(bm + p * ldb + col);
            for (int r = 0; r < R; r++) acc[r] += a[r * rs + p * ps] * b;
        }
        for (int r = 0; r < R; r++) *reinterpret_cast<V16u*>(c + r * ldc + col) = acc[r];
    }
}

template <bool Accumulate>
__attribute__((noinline)) void Baseline(const float* a, int64_t rs, int64_t ps, int64_t m, const float* bm, int64_t ldb,
                                        int64_t depth, int64_t n, float* c, int64_t ldc) {
    circuits::ForRowBlocks<6>(m, [&](auto rows, int64_t r0) {
        Block6x16<decltype(rows)::value, Accumulate>(a + r0 * rs, rs, ps, bm, ldb, depth, n, c + r0 * ldc, ldc);
    });
}

double Median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main() {
    constexpr int64_t Batch = 256, Calls = 2000, Repeats = 9;
    std::mt19937 random(7);
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    std::printf("| K | GEMM (CP kernel) | m × depth × n | 6 × 16 blocks µs | 6 × 32 / 8 × 16 blocks µs | ratio | same bits |\n");
    std::printf("|---|---|---|---|---|---|---|\n");
    for (int64_t k : {16, 32, 64}) {
        int64_t width = k + 1;   // a scaled-linear row: K values and the log-scale
        std::vector<float> x(Batch * width), w(k * k), t(Batch * k);
        for (auto* v : {&x, &w, &t})
            for (float& e : *v) e = uniform(random);
        const char* names[] = {"forward: x · w", "backward: xᵀ · t (dL/dw)", "backward: t · wᵀ, added (dL/dx)"};
        for (int shape = 0; shape < 3; shape++) {
            // m, depth, the operands and C's leading dimension of each of the kernels' three GEMMs.
            int64_t m = shape == 1 ? k : Batch, depth = shape == 1 ? Batch : k, ldc = shape == 1 ? k : width;
            const float* a = shape == 2 ? t.data() : x.data();
            int64_t rs = shape == 0 ? width : shape == 1 ? 1 : k, ps = shape == 1 ? width : 1;
            const float* b = shape == 1 ? t.data() : w.data();
            std::vector<float> c[2] = {std::vector<float>(m * ldc, 0.0f), std::vector<float>(m * ldc, 0.0f)};
            std::vector<double> times[2];
            for (int rep = 0; rep < Repeats; rep++)
                for (int variant = 0; variant < 2; variant++) {
                    if (shape == 2) std::fill(c[variant].begin(), c[variant].end(), 0.0f);
                    auto start = std::chrono::steady_clock::now();
                    for (int64_t call = 0; call < Calls; call++) {
                        float* out = c[variant].data();
                        if (variant == 0 && shape == 2) Baseline<true>(a, rs, ps, m, b, k, depth, k, out, ldc);
                        else if (variant == 0) Baseline<false>(a, rs, ps, m, b, k, depth, k, out, ldc);
                        else circuits::GemmAvx512(shape == 2, a, rs, ps, m, b, k, depth, k, out, ldc);
                    }
                    times[variant].push_back(
                        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() / Calls);
                }
            bool same = std::memcmp(c[0].data(), c[1].data(), sizeof(float) * m * ldc) == 0;
            double before = Median(times[0]), after = Median(times[1]);
            std::printf("| %lld | %s | %lld × %lld × %lld | %.2f | %.2f | ×%.2f | %s |\n", (long long)k, names[shape], (long long)m,
                        (long long)depth, (long long)k, before, after, after / before, same ? "yes" : "NO");
        }
    }
}
