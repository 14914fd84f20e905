namespace Microsoft.ML.Circuits;

/// <summary>
/// How a model's log-likelihood scores are computed (<see cref="ModelMetadata.Scoring"/>): by the ML.NET transformers,
/// the anomaly threshold fitted with them, and the command line's <c>ood</c>. The two modes agree to float32 rounding,
/// not to the last bit, so a model keeps the mode its scores and thresholds were made with.
/// </summary>
public enum ScoringMode
{
    /// <summary>
    /// The circuit's fastest path: the native kernels on the CPU where libCircuitsNative loaded and the circuit's
    /// <see cref="TensorizedCircuit.KernelPreference"/> allows them, the managed ones otherwise; scaled-linear values
    /// where every native kernel of the circuit computes them (CP, CP-XS, mixing), log-sum-exp otherwise (Tucker,
    /// CP-S). On the native kernels a row's score does not depend on the other rows of its batch. What models made by
    /// this version use.
    /// </summary>
    Fast,

    /// <summary>
    /// The managed log-sum-exp reference, bit for bit the scores of the versions before <see cref="Fast"/> existed. What
    /// a model file written by those versions reads as, so its scores and its anomaly threshold do not move.
    /// </summary>
    Reference,
}
