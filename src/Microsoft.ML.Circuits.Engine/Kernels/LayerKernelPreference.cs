namespace Microsoft.ML.Circuits;

/// <summary>
/// Which kernel computes a circuit's layers (<see cref="TensorizedCircuit.KernelPreference"/>). The managed kernel
/// (TorchSharp operations) computes every layer on every device and is the reference; the native kernel
/// (libCircuitsNative.so, built from src/Circuits.Native) fuses the CP family (CP, CP-S, CP-XS) on the CPU under
/// log-sum-exp and hands everything else to the managed kernel.
/// </summary>
public enum LayerKernelPreference
{
    /// <summary>
    /// The kernel measured fastest where it applies: the native kernel once it beats the managed one in
    /// <c>bench --compare</c>, the managed kernel until then (today) and wherever the native library is missing.
    /// </summary>
    Auto,

    /// <summary>The managed TorchSharp kernel for every layer.</summary>
    Managed,

    /// <summary>The native kernel where it applies; an error if the native library is not available.</summary>
    Native,
}
