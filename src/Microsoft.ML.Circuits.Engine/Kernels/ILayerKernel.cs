using Microsoft.ML.Circuits.Layers;
using Microsoft.ML.Circuits.Semirings;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Kernels;

/// <summary>
/// Computes one folded layer as a unit: gather of its inputs from the source outputs, contraction with the layer's
/// weights and product over the slots. A fused kernel may do all three in one pass; the managed kernel composes the
/// layer's own TorchSharp operations and is the reference every other kernel is tested against.
/// </summary>
internal interface ILayerKernel
{
    /// <summary>A short name shown by <c>bench</c> (<c>managed</c>, <c>native</c>).</summary>
    string Name { get; }

    /// <summary>The layer's (F, B, K_out) output from its sources' outputs.</summary>
    Tensor Forward(InnerLayer layer, IReadOnlyList<Tensor> sources, Semiring semiring);
}
