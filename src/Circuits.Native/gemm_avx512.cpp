// The GEMM of gemm.h on 16-float (AVX-512) vectors, for the columns that fill whole 16-float blocks. Compiled for
// x86-64-v4 (CMakeLists.txt) and called only when the CPU and the OS support AVX-512F (vector_width.cpp decides); nothing
// here runs at load time. It includes no header with inline functions (only gemm_rows.h's template, instantiated here
// with this file's own lambda, so with internal linkage), so the linker can never merge an AVX-512 copy of a shared
// inline function into the x86-64-v3 code of the other files.
//
// Each element of C is the same chain of FMAs over p, in the same order, as in gemm.h's 8-float micro-kernels, so
// the two widths give identical results bit for bit (NativeKernelTests checks it); only the number of columns per
// instruction differs. Blocks of 6 rows × 32 columns (12 accumulators, two loads of B and six broadcasts per 12 FMAs)
// while 32 columns are left, then 8 rows × 16 columns (8 accumulators): enough independent FMA chains to cover the
// FMA's latency on both ports. Measured on the development VM against 6 × 16 blocks, data in cache
// (tools/gemm-bench, docs/benchmarks.md): ×0.50–0.74 the time at K = 64, ×0.63–0.69 at K = 32, ×0.78–0.96 at K = 16;
// the 6 × 16 blocks were ×1.6 the 8-float kernel's throughput.
#include <cstdint>

#include "gemm_rows.h"

namespace {

typedef float V16 __attribute__((vector_size(64)));
typedef float V16u __attribute__((vector_size(64), aligned(4)));

inline V16 Load16(const float* p) { return *reinterpret_cast<const V16u*>(p); }
inline void Store16(float* p, V16 v) { *reinterpret_cast<V16u*>(p) = v; }

// C[r][0..16) (+)= Σ_p A(r, p)·B[p][0..16) for R rows: one 16-float accumulator per row.
template <int R, bool Accumulate>
inline void Micro(const float* __restrict a, int64_t rs, int64_t ps, const float* __restrict bm, int64_t ldb, int64_t depth,
                  float* __restrict c, int64_t ldc) {
    V16 acc[R];
    for (int r = 0; r < R; r++) acc[r] = Accumulate ? Load16(c + r * ldc) : V16{};
    for (int64_t p = 0; p < depth; p++) {
        V16 b = Load16(bm + p * ldb);
        for (int r = 0; r < R; r++) acc[r] += a[r * rs + p * ps] * b;
    }
    for (int r = 0; r < R; r++) Store16(c + r * ldc, acc[r]);
}

// The same for 32 columns: two accumulators per row, each B element loaded once per row block.
template <int R, bool Accumulate>
inline void Micro32(const float* __restrict a, int64_t rs, int64_t ps, const float* __restrict bm, int64_t ldb,
                    int64_t depth, float* __restrict c, int64_t ldc) {
    V16 acc0[R], acc1[R];
    for (int r = 0; r < R; r++) {
        acc0[r] = Accumulate ? Load16(c + r * ldc) : V16{};
        acc1[r] = Accumulate ? Load16(c + r * ldc + 16) : V16{};
    }
    for (int64_t p = 0; p < depth; p++) {
        V16 b0 = Load16(bm + p * ldb), b1 = Load16(bm + p * ldb + 16);
        for (int r = 0; r < R; r++) {
            float s = a[r * rs + p * ps];
            acc0[r] += s * b0;
            acc1[r] += s * b1;
        }
    }
    for (int r = 0; r < R; r++) {
        Store16(c + r * ldc, acc0[r]);
        Store16(c + r * ldc + 16, acc1[r]);
    }
}

template <int R, bool Accumulate>
void Rows32(const float* a, int64_t rs, int64_t ps, const float* bm, int64_t ldb, int64_t depth, int64_t n, float* c,
            int64_t ldc) {
    for (int64_t col = 0; col + 32 <= n; col += 32) Micro32<R, Accumulate>(a, rs, ps, bm + col, ldb, depth, c + col, ldc);
}

template <int R, bool Accumulate>
void Rows(const float* a, int64_t rs, int64_t ps, const float* bm, int64_t ldb, int64_t depth, int64_t n, float* c,
          int64_t ldc) {
    for (int64_t col = 0; col + 16 <= n; col += 16) Micro<R, Accumulate>(a, rs, ps, bm + col, ldb, depth, c + col, ldc);
}

template <bool Accumulate>
void Blocks(const float* a, int64_t rs, int64_t ps, int64_t m, const float* bm, int64_t ldb, int64_t depth, int64_t n,
            float* c, int64_t ldc) {
    int64_t n32 = n - n % 32;
    if (n32 > 0)
        circuits::ForRowBlocks<6>(m, [&](auto rows, int64_t r0) {
            Rows32<decltype(rows)::value, Accumulate>(a + r0 * rs, rs, ps, bm, ldb, depth, n32, c + r0 * ldc, ldc);
        });
    if (n32 < n)
        circuits::ForRowBlocks<8>(m, [&](auto rows, int64_t r0) {
            Rows<decltype(rows)::value, Accumulate>(a + r0 * rs, rs, ps, bm + n32, ldb, depth, n - n32, c + r0 * ldc + n32, ldc);
        });
}

}  // namespace

namespace circuits {

// C (m × n16) (+)= A (m × depth) · B (depth × n16) for n16 a multiple of 16; same arguments as gemm.h's Gemm.
void GemmAvx512(bool accumulate, const float* a, int64_t rs, int64_t ps, int64_t m, const float* bm, int64_t ldb,
                int64_t depth, int64_t n16, float* c, int64_t ldc) {
    if (accumulate) Blocks<true>(a, rs, ps, m, bm, ldb, depth, n16, c, ldc);
    else Blocks<false>(a, rs, ps, m, bm, ldb, depth, n16, c, ldc);
}

}  // namespace circuits
