// Vectorised elementwise helpers shared by the kernels (GCC vector extensions; the library is built for x86-64-v3,
// AVX2 + FMA, which the managed loader checks). Every loop is written on 8-float vectors with a scalar tail: under
// IEEE semantics GCC vectorises neither a max reduction nor a conditional division by itself.
#pragma once
#include <xmmintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "fast_math.h"

namespace circuits {

// Subnormal floats (below FLT_MIN ≈ 1.2e−38) flushed to zero, as inputs and results, for the lifetime of the guard on
// the calling thread (MXCSR's FTZ and DAZ bits), restored after. An FMA that meets a subnormal takes a microcode assist
// of a hundred cycles or more: on real images a PD circuit's GEMMs met enough of them (products of small shifted
// exponentials and small weights) to run 3× slower than on random pixels. The kernels already flush exponentials
// below e^−87 to exactly 0; a subnormal term is below 1e−38 of the sums it joins, whose largest term is the weight of
// the maximum (exp 0 = 1).
struct FlushSubnormals {
    unsigned saved;
    FlushSubnormals() : saved(_mm_getcsr()) { _mm_setcsr(saved | 0x8040u); }
    ~FlushSubnormals() { _mm_setcsr(saved); }
    FlushSubnormals(const FlushSubnormals&) = delete;
    FlushSubnormals& operator=(const FlushSubnormals&) = delete;
};

constexpr float NegativeInfinity = -std::numeric_limits<float>::infinity();
constexpr float ExpFloor = -87.0f;    // exp(−87) ≈ 1.6e−38: differences at or below it are flushed to exactly 0
constexpr float ExpCeiling = 87.0f;   // below FLT_MAX's log (88.7)

typedef float V8 __attribute__((vector_size(32)));
typedef float V8u __attribute__((vector_size(32), aligned(4)));

inline V8 Load(const float* p) { return *reinterpret_cast<const V8u*>(p); }
inline void Store(float* p, V8 v) { *reinterpret_cast<V8u*>(p) = v; }
inline V8 Splat(float v) { return V8{v, v, v, v, v, v, v, v}; }
// The larger of a and b; b where either is NaN (so a clamp `Max(v, floor)` maps NaN to the floor).
inline V8 Max(V8 a, V8 b) { return a > b ? a : b; }

// The larger of a and b, NaN where either is NaN: the maxima that become shifts propagate NaN, so a NaN input gives a
// NaN output (as the managed kernels do) instead of vanishing in a clamp.
inline V8 MaxOrNaN(V8 a, V8 b) { return (a > b) | (a != a) ? a : b; }
inline float MaxOrNaN(float a, float b) { return a > b || a != a ? a : b; }

typedef int I8 __attribute__((vector_size(32)));

// The maximum of the 8 lanes (NaN if one is NaN): three shuffle-and-max steps instead of a scalar chain.
inline float LaneMaxOrNaN(V8 v) {
    v = MaxOrNaN(v, __builtin_shuffle(v, I8{4, 5, 6, 7, 0, 1, 2, 3}));
    v = MaxOrNaN(v, __builtin_shuffle(v, I8{2, 3, 0, 1, 6, 7, 4, 5}));
    v = MaxOrNaN(v, __builtin_shuffle(v, I8{1, 0, 3, 2, 5, 4, 7, 6}));
    return v[0];
}

// The sum of the 8 lanes, in three shuffle-and-add steps.
inline float LaneSum(V8 v) {
    v += __builtin_shuffle(v, I8{4, 5, 6, 7, 0, 1, 2, 3});
    v += __builtin_shuffle(v, I8{2, 3, 0, 1, 6, 7, 4, 5});
    v += __builtin_shuffle(v, I8{1, 0, 3, 2, 5, 4, 7, 6});
    return v[0];
}

// max_i x[i]: NaN if some x[i] is NaN, −∞ if all are −∞.
inline float RowMax(const float* x, int64_t k) {
    float best = NegativeInfinity;
    int64_t i = 0;
    if (k >= 8) {
        V8 v = Load(x);
        for (i = 8; i + 8 <= k; i += 8) v = MaxOrNaN(v, Load(x + i));
        best = LaneMaxOrNaN(v);
    }
    for (; i < k; i++) best = MaxOrNaN(best, x[i]);
    return best;
}

// d[i] = max(x[i] − shift, ExpFloor) for the n = rows·k entries of rows whose shifts are given per row (a shift of
// −∞ marks a row that is entirely −∞, a NaN shift one that holds a NaN: their entries become ExpFloor, and the
// callers make the outputs of NaN rows NaN).
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

// y[j] += (z[j] > 0 ? l[j] : −∞) + shift; y[j] += NaN when the shift is NaN.
inline void AddLog(const float* z, const float* l, float shift, float* y, int64_t o) {
    if (shift != shift) {
        for (int64_t j = 0; j < o; j++) y[j] += shift;
        return;
    }
    const V8 s = Splat(shift), zero = Splat(0.0f), minusInfinity = Splat(NegativeInfinity);
    int64_t j = 0;
    for (; j + 8 <= o; j += 8) Store(y + j, Load(y + j) + (Load(z + j) > zero ? Load(l + j) + s : minusInfinity));
    for (; j < o; j++) y[j] += z[j] > 0.0f ? l[j] + shift : NegativeInfinity;
}

// y[i] = x[i], inline: a row of K floats per image and pixel is far too short for a call of memcpy (in the input
// layer's gather, glibc's memmove took 6 % of a scoring profile at K = 16). The empty asm statements keep GCC from
// recognising the loops as a copy and calling memcpy after all.
inline void Copy(const float* x, float* y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        Store(y + i, Load(x + i));
        __asm__("" ::: "memory");
    }
    for (; i < n; i++) {
        y[i] = x[i];
        __asm__("" ::: "memory");
    }
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

// acc[i] = max(acc[i], x[i]), NaN once either is NaN.
inline void MaxInto(const float* x, float* acc, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) Store(acc + i, MaxOrNaN(Load(acc + i), Load(x + i)));
    for (; i < n; i++) acc[i] = MaxOrNaN(acc[i], x[i]);
}

// d[i] = x[i] − s[i] clamped to [ExpFloor, ExpCeiling]; ExpFloor where s[i] is −∞ or NaN (and where x[i] is −∞).
inline void Differences(const float* x, const float* s, float* d, int64_t n) {
    const V8 floor = Splat(ExpFloor), ceiling = Splat(ExpCeiling), minusInfinity = Splat(NegativeInfinity);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        V8 sv = Load(s + i), v = Load(x + i) - sv;
        v = v > floor ? v : floor;   // NaN (−∞ − −∞) compares false: floor
        v = v < ceiling ? v : ceiling;
        Store(d + i, sv == minusInfinity ? floor : v);
    }
    for (; i < n; i++) {
        float v = x[i] - s[i];
        v = v > ExpFloor ? v : ExpFloor;
        v = v < ExpCeiling ? v : ExpCeiling;
        d[i] = s[i] == NegativeInfinity ? ExpFloor : v;
    }
}

// y[i] = (z[i] > 0 ? l[i] + s[i] : −∞), or NaN where s[i] is NaN.
inline void ShiftedLogs(const float* z, const float* l, const float* s, float* y, int64_t n) {
    const V8 zero = Splat(0.0f), minusInfinity = Splat(NegativeInfinity);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        V8 sv = Load(s + i), r = Load(z + i) > zero ? Load(l + i) + sv : minusInfinity;
        Store(y + i, sv != sv ? sv : r);
    }
    for (; i < n; i++) y[i] = s[i] != s[i] ? s[i] : z[i] > 0.0f ? l[i] + s[i] : NegativeInfinity;
}

// acc[i] += a[i]·b[i].
inline void MultiplyAdd(const float* a, const float* b, float* acc, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) Store(acc + i, Load(acc + i) + Load(a + i) * Load(b + i));
    for (; i < n; i++) acc[i] += a[i] * b[i];
}

// out[i] = 0 + a[i]·b[i]: what MultiplyAdd leaves in a zeroed out, bit for bit (the product rounded once, −0 made +0).
inline void MultiplyFromZero(const float* a, const float* b, float* out, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) Store(out + i, Splat(0.0f) + Load(a + i) * Load(b + i));
    for (; i < n; i++) out[i] = 0.0f + a[i] * b[i];
}

// acc[i] += x[i].
inline void AddInto(const float* x, float* acc, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) Store(acc + i, Load(acc + i) + Load(x + i));
    for (; i < n; i++) acc[i] += x[i];
}

// out[i] = a[i] − b[i].
inline void Subtract(const float* a, const float* b, float* out, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) Store(out + i, Load(a + i) - Load(b + i));
    for (; i < n; i++) out[i] = a[i] - b[i];
}

// acc[i] −= x[i].
inline void SubtractFrom(const float* x, float* acc, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) Store(acc + i, Load(acc + i) - Load(x + i));
    for (; i < n; i++) acc[i] -= x[i];
}

// acc[i] −= a[i]·b[i].
inline void MultiplySubtract(const float* a, const float* b, float* acc, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) Store(acc + i, Load(acc + i) - Load(a + i) * Load(b + i));
    for (; i < n; i++) acc[i] -= a[i] * b[i];
}

// out[i] = a[i]·b[i].
inline void Multiply(const float* a, const float* b, float* out, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) Store(out + i, Load(a + i) * Load(b + i));
    for (; i < n; i++) out[i] = a[i] * b[i];
}

// The log-scale of the zero vector (ScaledLinearSemiring.ZeroScale): a finite floor.
constexpr float ZeroScale = -1e15f;

// Rows per vectorised exp call of ToScaledRows.
constexpr int64_t ToScaledChunk = 64;

// n rows of k log-values x to scaled-linear rows y (k + 1 floats each: exp(x − m) for m the row's maximum, then m as
// the log-scale, floored at ZeroScale), ToScaledChunk rows per vectorised exp call; a row holding NaN or +∞ keeps a
// shift of 0, so NaN and ∞ reach the output as in the managed semiring. scratch: 3·ToScaledChunk·k floats.
inline void ToScaledRows(const float* x, int64_t n, int64_t k, float* y, float* scratch) {
    float* shifts = scratch;   // ≤ ToScaledChunk ≤ ToScaledChunk·k floats
    float* d = scratch + ToScaledChunk * k;
    float* e = d + ToScaledChunk * k;
    for (int64_t r0 = 0; r0 < n; r0 += ToScaledChunk) {
        int64_t rows = std::min(ToScaledChunk, n - r0);
        const float* xc = x + r0 * k;
        for (int64_t r = 0; r < rows; r++) shifts[r] = RowMax(xc + r * k, k);
        ShiftedDifferences(xc, shifts, rows, k, d);
        FlushedExp(d, e, rows * k);
        for (int64_t r = 0; r < rows; r++) {
            float* yr = y + (r0 + r) * (k + 1);
            float m = shifts[r];
            if (m != m || m == -NegativeInfinity) {
                for (int64_t i = 0; i < k; i++) yr[i] = std::exp(xc[r * k + i]);
                yr[k] = m;
                continue;
            }
            Copy(e + r * k, yr, k);
            yr[k] = m > ZeroScale ? m : ZeroScale;
        }
    }
}

}  // namespace circuits
