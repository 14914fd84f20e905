// The row blocking the GEMMs share (gemm.h on 8-float vectors, gemm_avx512.cpp on 16-float vectors): blocks of Max
// rows (6 unless the caller says), then one block of the 1 to Max − 1 rows left. Only a template: a file that includes
// it emits nothing until it calls it, and a call with a lambda of its own instantiates a function of its own
// (gemm_avx512.cpp relies on that, see its header).
#pragma once
#include <cstdint>
#include <type_traits>

namespace circuits {

// The last block: rows [r0, r0 + left) for 0 ≤ left < R, dispatched to a block of a compile-time size.
template <int R, class Block>
inline void LastRowBlock(int64_t left, int64_t r0, Block&& block) {
    if constexpr (R > 1) {
        if (left == R - 1) block(std::integral_constant<int, R - 1>{}, r0);
        else LastRowBlock<R - 1>(left, r0, block);
    }
}

// block(std::integral_constant<int, R>, r0) for rows [r0, r0 + R) of m rows: R = Max while Max rows are left, then
// R = m mod Max.
template <int Max = 6, class Block>
inline void ForRowBlocks(int64_t m, Block&& block) {
    int64_t r0 = 0;
    for (; r0 + Max <= m; r0 += Max) block(std::integral_constant<int, Max>{}, r0);
    LastRowBlock<Max>(m - r0, r0, block);
}

}  // namespace circuits
