using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Tests;

/// <summary>Helpers for exact checks on circuits small enough to enumerate.</summary>
internal static class TinyCircuits
{
    /// <summary>Every image of the description's shape: (N^(D·C), D, C), int64.</summary>
    public static Tensor AllImages(CircuitDescription d)
    {
        int values = d.Variables * d.Channels;
        long count = (long)Math.Pow(d.Categories, values);
        var data = new long[count * values];
        for (long n = 0; n < count; n++)
        {
            long rest = n;
            for (int v = values - 1; v >= 0; v--)
            {
                data[n * values + v] = rest % d.Categories;
                rest /= d.Categories;
            }
        }
        return torch.tensor(data, [count, d.Variables, d.Channels]);
    }

    /// <summary>Σ over every image of exp(LogLikelihood), accumulated in float64.</summary>
    public static double TotalProbability(TensorizedCircuit circuit)
    {
        using var scope = NewDisposeScope();
        using var _ = torch.no_grad();
        var images = AllImages(circuit.Description);
        double total = 0;
        foreach (var batch in images.split(8192))
            total += circuit.LogLikelihood(batch).to(ScalarType.Float64).exp().sum().item<double>();
        return total;
    }

    /// <summary>A random batch of valid images.</summary>
    public static Tensor RandomImages(CircuitDescription d, int count, long seed)
    {
        using var g = new Generator((ulong)seed, torch.CPU);
        return torch.randint(0, d.Categories, [count, d.Variables, d.Channels], ScalarType.Int64, generator: g);
    }

    /// <summary>Small descriptions on which every region graph works (PD with delta 1).</summary>
    public static CircuitDescription Tiny(RegionGraphKind graph, LayerKind layer, int height, int width, int channels, int categories,
        int units = 3, Reparameterization reparameterization = Reparameterization.Clamp, MixingFreeze freeze = MixingFreeze.All) => new()
    {
        ImageHeight = height, ImageWidth = width, Channels = channels, Categories = categories,
        RegionGraph = graph, PoonDomingosDelta = 1, Replicas = graph == RegionGraphKind.RandomBinaryTree ? 2 : 1, TreeSeed = 3,
        Layer = layer, Units = units, Rank = layer == LayerKind.UncollapsedCP ? 2 : null,
        Reparameterization = reparameterization, FreezeMixing = freeze,
    };

    public static readonly (int H, int W, int C, int N)[] Shapes = [(2, 2, 1, 4), (2, 2, 2, 3), (3, 3, 1, 2), (4, 2, 1, 3), (4, 2, 2, 2)];

    public static IEnumerable<(RegionGraphKind, LayerKind)> SupportedCombinations()
    {
        foreach (var graph in Enum.GetValues<RegionGraphKind>())
            foreach (var layer in Enum.GetValues<LayerKind>())
                if (!(graph == RegionGraphKind.QuadTree && layer == LayerKind.Tucker))
                    yield return (graph, layer);
    }
}
