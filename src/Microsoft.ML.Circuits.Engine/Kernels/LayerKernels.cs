using Microsoft.ML.Circuits.Structure;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Kernels;

/// <summary>
/// The one place that decides which kernel computes a layer of a given kind on a given device. Today every
/// (kind, device) pair runs the managed TorchSharp kernel; fused native kernels (src/Circuits.Native) register here
/// and fall back to it where they do not apply.
/// </summary>
internal static class LayerKernels
{
    public static ILayerKernel Select(LayerSpecKind kind, Device device) => ManagedLayerKernel.Instance;
}
