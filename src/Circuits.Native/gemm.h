// The small GEMM the kernels share (cp_kernels.cpp, tucker_kernels.cpp, scaled_kernels.cpp): a 6×16 register-blocked
// micro-kernel. C[r][c] (+)= Σ_p A(r, p)·B[p][c], with A(r, p) = a[r·rs + p·ps] (so a transposed A costs nothing),
// B row-major with leading dimension ldb, C row-major with leading dimension ldc. With Accumulate the product is added
// to C; otherwise C is overwritten. On a CPU with AVX-512 the whole 16-column blocks run on 16-float vectors
// (gemm_avx512.cpp, one accumulator per row) and the rest here on 8-float vectors; both compute each element by the
// same chain of FMAs, so the results do not depend on the CPU.
#pragma once
#include <cstdint>

#include "gemm_rows.h"
#include "vector_math.h"
#include "vector_width.h"

namespace circuits {

template <int R, bool Accumulate>
inline void Micro16(const float* __restrict a, int64_t rs, int64_t ps, const float* __restrict bm, int64_t ldb, int64_t depth,
                    float* __restrict c, int64_t ldc) {
    V8 c0[R], c1[R];
    for (int r = 0; r < R; r++) {
        c0[r] = Accumulate ? Load(c + r * ldc) : Splat(0.0f);
        c1[r] = Accumulate ? Load(c + r * ldc + 8) : Splat(0.0f);
    }
    for (int64_t p = 0; p < depth; p++) {
        V8 b0 = Load(bm + p * ldb), b1 = Load(bm + p * ldb + 8);
        for (int r = 0; r < R; r++) {
            V8 s = Splat(a[r * rs + p * ps]);
            c0[r] += s * b0;
            c1[r] += s * b1;
        }
    }
    for (int r = 0; r < R; r++) {
        Store(c + r * ldc, c0[r]);
        Store(c + r * ldc + 8, c1[r]);
    }
}

template <int R, bool Accumulate>
inline void Micro8(const float* __restrict a, int64_t rs, int64_t ps, const float* __restrict bm, int64_t ldb, int64_t depth,
                   float* __restrict c, int64_t ldc) {
    V8 c0[R];
    for (int r = 0; r < R; r++) c0[r] = Accumulate ? Load(c + r * ldc) : Splat(0.0f);
    for (int64_t p = 0; p < depth; p++) {
        V8 b0 = Load(bm + p * ldb);
        for (int r = 0; r < R; r++) c0[r] += Splat(a[r * rs + p * ps]) * b0;
    }
    for (int r = 0; r < R; r++) Store(c + r * ldc, c0[r]);
}

template <int R, bool Accumulate>
inline void GemmRows(const float* a, int64_t rs, int64_t ps, const float* bm, int64_t ldb, int64_t depth, int64_t n,
                     float* c, int64_t ldc) {
    int64_t col = 0;
    for (; col + 16 <= n; col += 16) Micro16<R, Accumulate>(a, rs, ps, bm + col, ldb, depth, c + col, ldc);
    for (; col + 8 <= n; col += 8) Micro8<R, Accumulate>(a, rs, ps, bm + col, ldb, depth, c + col, ldc);
    for (; col < n; col++)
        for (int r = 0; r < R; r++) {
            float sum = Accumulate ? c[r * ldc + col] : 0.0f;
            for (int64_t p = 0; p < depth; p++) sum += a[r * rs + p * ps] * bm[p * ldb + col];
            c[r * ldc + col] = sum;
        }
}

// gemm_avx512.cpp: the whole 16-column blocks (n16 a multiple of 16) on 16-float vectors.
void GemmAvx512(bool accumulate, const float* a, int64_t rs, int64_t ps, int64_t m, const float* bm, int64_t ldb,
                int64_t depth, int64_t n16, float* c, int64_t ldc);

// C (m × n) (+)= A (m × depth) · B (depth × n) on 8-float vectors.
template <bool Accumulate = false>
inline void GemmAvx2(const float* a, int64_t rs, int64_t ps, int64_t m, const float* bm, int64_t ldb, int64_t depth, int64_t n,
                 float* c, int64_t ldc) {
    ForRowBlocks(m, [&](auto rows, int64_t r0) {
        GemmRows<decltype(rows)::value, Accumulate>(a + r0 * rs, rs, ps, bm, ldb, depth, n, c + r0 * ldc, ldc);
    });
}

// C (m × n) (+)= A (m × depth) · B (depth × n).
template <bool Accumulate = false>
inline void Gemm(const float* a, int64_t rs, int64_t ps, int64_t m, const float* bm, int64_t ldb, int64_t depth, int64_t n,
                 float* c, int64_t ldc) {
    int64_t wide = vectorWidth == 16 ? n - n % 16 : 0;
    if (wide > 0) GemmAvx512(Accumulate, a, rs, ps, m, bm, ldb, depth, wide, c, ldc);
    if (wide < n) GemmAvx2<Accumulate>(a, rs, ps, m, bm + wide, ldb, depth, n - wide, c + wide, ldc);
}

// wt[j][i] = w[i][j] for a (k × o) matrix w: a matrix transposed, so a product with it has contiguous rows.
inline void Transpose(const float* w, float* wt, int64_t k, int64_t o) {
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = 0; j < o; j++) wt[j * k + i] = w[i * o + j];
}

}  // namespace circuits
