using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Compression;

/// <summary>Factors of a batch of rank-R CP decompositions: W[f,i,j,o] ≈ Σ_r A[f,i,r]·B[f,j,r]·C[f,o,r].</summary>
/// <param name="A">(F, I, R), non-negative.</param>
/// <param name="B">(F, J, R), non-negative.</param>
/// <param name="C">(F, O, R), non-negative.</param>
/// <param name="RelativeErrors">‖W_f − Ŵ_f‖ / ‖W_f‖ per fold.</param>
/// <param name="RelativeError">‖W − Ŵ‖ / ‖W‖ over all folds together.</param>
/// <param name="Iterations">Sweeps run (0 for the exact construction).</param>
internal sealed record CpFactors(Tensor A, Tensor B, Tensor C, double[] RelativeErrors, double RelativeError, int Iterations) : IDisposable
{
    /// <summary>Σ_r A[f,i,r]·B[f,j,r]·C[f,o,r], shape (F, I, J, O).</summary>
    public Tensor Reconstruct() => torch.einsum("fir,fjr,for->fijo", A, B, C);

    /// <summary>Frees the factors.</summary>
    public void Dispose() { A.Dispose(); B.Dispose(); C.Dispose(); }
}
