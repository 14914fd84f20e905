using Microsoft.ML.Circuits.Queries;
using TorchSharp;
using static TorchSharp.torch;
using static Microsoft.ML.Circuits.Tests.TinyCircuits;

namespace Microsoft.ML.Circuits.Tests.Queries;

/// <summary>
/// The max-plus semiring on tiny circuits (every region graph × layer kind, 2×2, 3×3 and 4×2 images, few categories)
/// against brute force: the max-product circuit's maximum over missing pixels equals the largest value it gives any
/// completion, evaluated one complete image at a time.
/// </summary>
[TestClass]
public sealed class MaxProductQueryTests
{
    public static IEnumerable<object[]> Combinations() => SupportedCombinations().Select(c => new object[] { c.Item1, c.Item2 });

    static IEnumerable<(CircuitDescription Description, int Seed)> Circuits(RegionGraphKind graph, LayerKind layer)
    {
        int seed = 0;
        foreach (var (h, w, c, n) in Shapes)
        {
            seed++;
            yield return (Tiny(graph, layer, h, w, c, n, reparameterization: (Reparameterization)(seed % 3), freeze: (MixingFreeze)(seed % 3)), seed);
        }
    }

    /// <summary>c_max(x) of every image, in the order of <see cref="AllImages"/>, as float64.</summary>
    static double[] AllValues(TensorizedCircuit circuit, Tensor images)
    {
        var query = new MaxProductQuery(circuit);
        return [.. images.split(8192).SelectMany(batch => query.Evaluate(batch).to(ScalarType.Float64).data<double>().ToArray())];
    }

    [TestMethod]
    [DynamicData(nameof(Combinations))]
    public void TheMaximumOverEveryImageEqualsBruteForce(RegionGraphKind graph, LayerKind layer)
    {
        foreach (var (description, seed) in Circuits(graph, layer))
        {
            using var scope = NewDisposeScope();
            using var _ = torch.no_grad();
            using var circuit = new TensorizedCircuit(description, seed: seed);
            var values = AllValues(circuit, AllImages(description));
            double brute = values.Max();
            double maximum = new MaxProductQuery(circuit).Maximum().item<float>();
            Assert.AreEqual(brute, maximum, 1e-4 * Math.Max(1, Math.Abs(brute)), $"{description}: max-plus {maximum} vs brute force {brute}");
        }
    }

    [TestMethod]
    [DynamicData(nameof(Combinations))]
    public void MaximisingOverMissingPixelsEqualsTheBestCompletion(RegionGraphKind graph, LayerKind layer)
    {
        foreach (var (description, seed) in Circuits(graph, layer))
        {
            using var scope = NewDisposeScope();
            using var _ = torch.no_grad();
            using var circuit = new TensorizedCircuit(description, seed: seed);
            var images = AllImages(description);
            var values = AllValues(circuit, images);
            var all = images.view(images.shape[0], -1).data<long>().ToArray();
            int perImage = description.Variables * description.Channels;

            var x = RandomImages(description, 4, seed);
            using var g = new Generator((ulong)seed + 100, torch.CPU);
            var missing = torch.rand([4, description.Variables], generator: g).lt(0.5);
            missing[0].fill_(false); // complete evidence
            missing[1].fill_(true);  // nothing observed
            var got = new MaxProductQuery(circuit).Evaluate(x, missing).to(ScalarType.Float64).data<double>().ToArray();

            var xs = x.view(4, -1).data<long>().ToArray();
            var ms = missing.data<bool>().ToArray();
            for (int b = 0; b < 4; b++)
            {
                double best = double.NegativeInfinity;
                for (long i = 0; i < values.Length; i++)
                {
                    bool consistent = true;
                    for (int v = 0; v < perImage && consistent; v++)
                        if (!ms[b * description.Variables + v / description.Channels] && all[i * perImage + v] != xs[b * perImage + v]) consistent = false;
                    if (consistent) best = Math.Max(best, values[i]);
                }
                Assert.AreEqual(best, got[b], 1e-4 * Math.Max(1, Math.Abs(best)), $"{description}, image {b}: max-plus {got[b]} vs brute force {best}");
            }
        }
    }

    [TestMethod]
    public void TheMaxProductCircuitIsBelowTheSumProductCircuitAndDiffersFromIt()
    {
        var description = Tiny(RegionGraphKind.QuadGraph, LayerKind.CP, 2, 2, 1, 3);
        using var circuit = new TensorizedCircuit(description, seed: 5);
        using var _ = torch.no_grad();
        using var images = AllImages(description);
        using var maxProduct = new MaxProductQuery(circuit).Evaluate(images);
        using var sumProduct = circuit.LogCircuit(images);
        Assert.IsTrue((maxProduct <= sumProduct + 1e-5).all().item<bool>(), "a maximum of non-negative terms never exceeds their sum");
        Assert.IsTrue((maxProduct < sumProduct - 1e-3).any().item<bool>(), "with several positive terms the maximum is strictly smaller");
        Assert.IsLessThan(circuit.LogPartition().item<float>(), new MaxProductQuery(circuit).Maximum().item<float>());
    }
}
