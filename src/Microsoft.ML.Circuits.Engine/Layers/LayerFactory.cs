using Microsoft.ML.Circuits.Structure;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Layers;

/// <summary>Builds the TorchSharp module of a layer spec: the one place that maps a <see cref="LayerSpecKind"/> to a class.</summary>
internal static class LayerFactory
{
    public static InnerLayer Create(LayerSpec spec, Reparameterization reparameterization, Generator generator, Device device) => spec.Kind switch
    {
        LayerSpecKind.Tucker => new TuckerLayer(spec, reparameterization, generator, device),
        LayerSpecKind.CP => new CpLayer(spec, reparameterization, generator, device),
        LayerSpecKind.CPXS => new SharedCpLayer(spec, reparameterization, generator, device),
        LayerSpecKind.CPS => new ScaledSharedCpLayer(spec, reparameterization, generator, device),
        LayerSpecKind.UncollapsedCP => new UncollapsedCpLayer(spec, reparameterization, generator, device),
        LayerSpecKind.Mixing => new MixingLayer(spec, reparameterization, generator, device),
        _ => throw new ArgumentOutOfRangeException(nameof(spec), spec.Kind, "Unknown layer kind."),
    };
}
