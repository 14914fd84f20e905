using Microsoft.ML.Circuits.Layers;
using Microsoft.ML.Circuits.Semirings;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Kernels;

/// <summary>The reference kernel: the layer's TorchSharp gather followed by its TorchSharp contraction. Any layer, any device, any semiring.</summary>
internal sealed class ManagedLayerKernel : ILayerKernel
{
    public static ManagedLayerKernel Instance { get; } = new();

    public string Name => "managed";

    public Tensor Forward(InnerLayer layer, IReadOnlyList<Tensor> sources, Semiring semiring)
    {
        using var x = layer.GatherInputs(sources);
        return layer.Contract(x, semiring);
    }
}
