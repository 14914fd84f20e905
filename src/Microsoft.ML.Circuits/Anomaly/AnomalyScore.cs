namespace Microsoft.ML.Circuits;

/// <summary>
/// How a probabilistic-circuit anomaly detector turns an image's exact log-likelihood into an anomaly score. Every
/// score is per dimension (divided by H·W·C) and higher means more anomalous. The measured comparison on the standard
/// out-of-distribution benchmark is in <c>docs/benchmarks.md</c>.
/// </summary>
public enum AnomalyScore
{
    /// <summary>
    /// Bits per dimension −log₂ p(x) / D. Fails on simple images: a model of garments gives MNIST digits higher
    /// likelihood than garments (Nalisnick et al., ICLR 2019).
    /// </summary>
    BitsPerDimension,

    /// <summary>
    /// Input-complexity corrected bits per dimension (−log₂ p(x) − L(x)) / D, where L(x) is the size in bits of the
    /// image compressed by a generic lossless codec (Serrà et al., ICLR 2020); the codec is
    /// <see cref="ProbabilisticCircuitAnomalyOptions.ComplexityCodec"/>. L(x) is computed from the quantised pixel
    /// vector the circuit scores, so 0..1 and 0..255 columns of the same image get the same score.
    /// </summary>
    InputComplexity,

    /// <summary>
    /// Likelihood ratio against a background model, (−log₂ p(x) + log₂ p_bg(x)) / D (after Ren et al., NeurIPS 2019):
    /// the background is a pixel-wise categorical model fitted to the same training images with Ren et al.'s input
    /// perturbation (see <see cref="PixelBackgroundModel"/>).
    /// </summary>
    LikelihoodRatio,

    /// <summary>
    /// Input complexity measured by the shorter of two lossless codes, (−log₂ p(x) − min(L(x), −log₂ p_local(x))) / D:
    /// L(x) from the generic codec of <see cref="ProbabilisticCircuitAnomalyOptions.ComplexityCodec"/>, as in
    /// <see cref="InputComplexity"/>, and p_local a <see cref="LocalPixelModel"/> fitted to the same training images
    /// (each value given its quantised causal neighbours, the same model at every position) — a code that knows the
    /// data's texture but not its layout, so the score keeps what only the circuit models. The best score across the
    /// out-of-distribution benchmark in <c>docs/benchmarks.md</c>, and the default.
    /// </summary>
    LocalComplexity,
}
