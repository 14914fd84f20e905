namespace Microsoft.ML.Circuits;

/// <summary>
/// Which kernel computes a circuit's layers (<see cref="TensorizedCircuit.KernelPreference"/>). The managed kernel
/// (TorchSharp operations) computes every layer on every device and is the reference; the native kernel
/// (libCircuitsNative.so, built from src/Circuits.Native) fuses the CP family (CP, CP-S, CP-XS), Tucker and mixing
/// layers and the input layer's gather on the CPU under log-sum-exp and hands everything else to the managed kernel.
/// </summary>
public enum LayerKernelPreference
{
    /// <summary>
    /// The kernel measured fastest where it applies: the native kernel on the CPU when the native
    /// library is available (it beats the managed kernels in <c>bench --compare-kernels</c>), the managed kernel
    /// elsewhere. The scores of models on the reference (<see cref="ScoringMode.Reference"/>: model files written before
    /// <see cref="ModelMetadata.Scoring"/> existed) and <see cref="Training.Evaluation"/>'s default stay on the managed
    /// kernel so they are bit for bit those of earlier versions.
    /// </summary>
    Auto,

    /// <summary>The managed TorchSharp kernel for every layer.</summary>
    Managed,

    /// <summary>The native kernel where it applies; an error if the native library is not available.</summary>
    Native,
}
