// The row blocking the GEMMs share (gemm.h on 8-float vectors, gemm_avx512.cpp on 16-float vectors): blocks of 6 rows,
// then one block of the 1–5 rows left. Only a template: a file that includes it emits nothing until it calls it, and a
// call with a lambda of its own instantiates a function of its own (gemm_avx512.cpp relies on that, see its header).
#pragma once
#include <cstdint>
#include <type_traits>

namespace circuits {

// block(std::integral_constant<int, R>, r0) for rows [r0, r0 + R) of m rows: R = 6 while 6 rows are left, then R = m mod 6.
template <class Block>
inline void ForRowBlocks(int64_t m, Block&& block) {
    int64_t r0 = 0;
    for (; r0 + 6 <= m; r0 += 6) block(std::integral_constant<int, 6>{}, r0);
    switch (m - r0) {
        case 5: block(std::integral_constant<int, 5>{}, r0); break;
        case 4: block(std::integral_constant<int, 4>{}, r0); break;
        case 3: block(std::integral_constant<int, 3>{}, r0); break;
        case 2: block(std::integral_constant<int, 2>{}, r0); break;
        case 1: block(std::integral_constant<int, 1>{}, r0); break;
        default: break;
    }
}

}  // namespace circuits
