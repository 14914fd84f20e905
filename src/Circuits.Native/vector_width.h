// The width of the library's wide vectors: 16 floats (AVX-512) where the CPU and the OS support AVX-512F, else 8
// (AVX2). It applies to the GEMM's whole 16-column blocks (gemm_avx512.cpp) and to the vectorised exponentials and
// logarithms (fast_math_avx512.cpp); vector_width.cpp sets it once at load time from the CPU, and circuits_vector_width changes
// it (the engine's CIRCUITS_NATIVE_AVX512=0, tests and benchmarks). Both widths give identical results bit for bit.
#pragma once

namespace circuits {
extern int vectorWidth;
}  // namespace circuits
