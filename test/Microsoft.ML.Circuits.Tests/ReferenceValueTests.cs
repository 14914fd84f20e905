using Microsoft.ML.Circuits.RegionGraphs;
using Microsoft.ML.Circuits.Semirings;
using TorchSharp;
using static TorchSharp.torch;
using static Microsoft.ML.Circuits.Tests.TinyCircuits;

namespace Microsoft.ML.Circuits.Tests;

/// <summary>
/// Checks against values computed independently of the code under test (issue 10, "tests that catch real bugs"):
/// enumeration in float64, region-graph partitions written out by hand, log-values far from 0, per-row masks, and
/// Poon–Domingos input regions that span several pixels.
/// </summary>
[TestClass]
public sealed class ReferenceValueTests
{
    /// <summary>log p(x) of every image, in float64 on the CPU, indexed like <see cref="AllImages"/>.</summary>
    static double[] EveryLogLikelihood(TensorizedCircuit circuit)
    {
        using var scope = NewDisposeScope();
        using var _ = torch.no_grad();
        var images = AllImages(circuit.Description);
        return torch.cat(images.split(8192).Select(b => circuit.LogLikelihood(b).to(ScalarType.Float64)).ToList()).data<double>().ToArray();
    }

    static double LogSum(IEnumerable<double> values)
    {
        var v = values.ToList();
        double max = v.Max();
        return max + Math.Log(v.Sum(x => Math.Exp(x - max)));
    }

    [TestMethod]
    [DataRow(LayerKind.CP)]
    [DataRow(LayerKind.Tucker)]
    [DataRow(LayerKind.CPXS)]
    public void PoonDomingosWithMultiPixelInputRegionsIsNormalisedAndMarginalisesExactly(LayerKind layer)
    {
        // delta 2 on 4×4: the input regions are the four 2×2 blocks, four pixels each.
        var description = Tiny(RegionGraphKind.PoonDomingos, layer, 4, 4, 1, 2) with { PoonDomingosDelta = 2 };
        var graph = description.BuildRegionGraph();
        Assert.IsTrue(graph.InputRegions.All(r => r.Scope.Length == 4), "the input regions are not the 2×2 blocks");
        Assert.AreEqual(4, graph.InputRegions.Count());
        using var circuit = new TensorizedCircuit(description, seed: 7);
        var all = EveryLogLikelihood(circuit);
        Assert.AreEqual(1.0, all.Sum(Math.Exp), 1e-4, $"{description}: Σ p(x)");

        // Per-row masks that cut through the 2×2 input regions: the marginal is the sum over the missing pixels' values.
        bool[][] masks =
        [
            new bool[16],
            Enumerable.Range(0, 16).Select(p => p is 0 or 5).ToArray(),
            Enumerable.Range(0, 16).Select(p => p % 4 < 3).ToArray(),
            Enumerable.Range(0, 16).Select(p => p != 10).ToArray(),
        ];
        AssertMarginalsMatchEnumeration(circuit, all, masks, seed: 3);
    }

    [TestMethod]
    public void MarginalsWithManyMissingPixelsAndPerRowMasksMatchEnumeration()
    {
        var description = Tiny(RegionGraphKind.QuadGraph, LayerKind.CP, 3, 3, 1, 3);
        using var circuit = new TensorizedCircuit(description, seed: 4);
        var all = EveryLogLikelihood(circuit);
        var random = new Random(9);
        var masks = Enumerable.Range(0, 6).Select(row => Enumerable.Range(0, 9).Select(_ => random.Next(9) < row + 2).ToArray()).ToArray();
        AssertMarginalsMatchEnumeration(circuit, all, masks, seed: 8);
    }

    static void AssertMarginalsMatchEnumeration(TensorizedCircuit circuit, double[] all, bool[][] masks, int seed)
    {
        var d = circuit.Description;
        using var scope = NewDisposeScope();
        using var _ = torch.no_grad();
        var x = RandomImages(d, masks.Length, seed);
        var missing = torch.tensor(masks.SelectMany(m => m).ToArray(), [masks.Length, d.Variables]);
        var marginal = circuit.MarginalLogLikelihood(x, missing).to(ScalarType.Float64).data<double>().ToArray();
        var pixels = x.data<long>().ToArray();
        for (int row = 0; row < masks.Length; row++)
        {
            // Images are enumerated with pixel 0 most significant (see AllImages).
            var consistent = new List<double>();
            for (int index = 0; index < all.Length; index++)
            {
                bool match = true;
                for (int v = d.Variables - 1, rest = index; v >= 0; v--, rest /= d.Categories)
                    if (!masks[row][v] && rest % d.Categories != pixels[row * d.Variables + v]) { match = false; break; }
                if (match) consistent.Add(all[index]);
            }
            double expected = LogSum(consistent);
            Assert.AreEqual(expected, marginal[row], 1e-4, $"row {row}: {masks[row].Count(m => m)} missing pixels");
        }
    }

    [TestMethod]
    public void QuadGraphSplitsEachBlockByColumnsAndByRows()
    {
        // 4×4, pixels in row-major order: the root block has exactly two partitions, left | right and top / bottom.
        var graph = QuadGraph.Create(4, 4);
        static int[] Block(int top, int left, int height, int width) =>
            [.. from r in Enumerable.Range(top, height) from c in Enumerable.Range(left, width) select r * 4 + c];
        string Key(IEnumerable<int> scope) => string.Join(",", scope.Order());
        HashSet<string> Split(Partition p) => [.. p.Inputs.Select(i => Key(graph.Regions[i].Scope))];

        var root = graph.Root;
        CollectionAssert.AreEqual(Enumerable.Range(0, 16).ToArray(), root.Scope.Order().ToArray());
        var splits = root.Partitions.Select(p => Split(graph.Partitions[p])).ToList();
        Assert.HasCount(2, splits);
        var byColumns = new HashSet<string> { Key(Block(0, 0, 4, 2)), Key(Block(0, 2, 4, 2)) };
        var byRows = new HashSet<string> { Key(Block(0, 0, 2, 4)), Key(Block(2, 0, 2, 4)) };
        Assert.IsTrue(splits.Any(s => s.SetEquals(byColumns)), "no partition splits the block into its left and right halves");
        Assert.IsTrue(splits.Any(s => s.SetEquals(byRows)), "no partition splits the block into its top and bottom halves");

        // One level down, the left half (4×2) is split into its top and bottom 2×2 quadrants.
        var left = graph.Regions.Single(r => Key(r.Scope) == Key(Block(0, 0, 4, 2)));
        var quadrants = new HashSet<string> { Key(Block(0, 0, 2, 2)), Key(Block(2, 0, 2, 2)) };
        Assert.IsTrue(left.Partitions.Any(p => Split(graph.Partitions[p]).SetEquals(quadrants)));
        // Input regions are single pixels.
        Assert.IsTrue(graph.InputRegions.All(r => r.Scope.Length == 1));
    }

    [TestMethod]
    public void LogSumExpOfValuesAroundMinusAThousandMatchesAFloat64Reference()
    {
        // Log-values of a deep circuit: about −1000, spread over ±40 so the maximum matters; plus an all −∞ slice.
        using var g = new Generator(17, torch.CPU);
        using var x = torch.randn([2, 3, 6], ScalarType.Float32, generator: g).mul_(20).sub_(1000);
        x[1, 2].fill_(float.NegativeInfinity);
        using var w = torch.rand([2, 6, 4], ScalarType.Float32, generator: g).add_(0.01);
        using var y = Semiring.LogSumExp.MatMul(x, w);
        var xs = x.to(ScalarType.Float64).data<double>().ToArray();
        var ws = w.to(ScalarType.Float64).data<double>().ToArray();
        for (int n = 0; n < 2; n++)
            for (int b = 0; b < 3; b++)
                for (int o = 0; o < 4; o++)
                {
                    var terms = Enumerable.Range(0, 6).Select(i => xs[(n * 3 + b) * 6 + i] + Math.Log(ws[(n * 6 + i) * 4 + o])).ToList();
                    float actual = y[n, b, o].item<float>();
                    if (terms.All(double.IsNegativeInfinity)) { Assert.IsTrue(float.IsNegativeInfinity(actual)); continue; }
                    Assert.AreEqual(LogSum(terms), actual, 2e-3, $"MatMul[{n},{b},{o}]");
                }

        // A whole circuit whose log-likelihoods are near −1000 agrees with the float64 sum of its own enumeration.
        var description = Tiny(RegionGraphKind.QuadGraph, LayerKind.CP, 2, 2, 1, 4) with { Categories = 4 };
        using var circuit = new TensorizedCircuit(description, seed: 2);
        using (torch.no_grad())
            foreach (var p in circuit.Input.parameters()) p.mul_(0f).add_(-250f); // equal logits far from 0: the input stays uniform
        circuit.MarkParametersChanged();
        using var images = RandomImages(description, 5, seed: 1);
        using var ll = circuit.LogLikelihood(images);
        Assert.IsTrue(ll.isfinite().all().item<bool>());
        Assert.AreEqual(1.0, EveryLogLikelihood(circuit).Sum(Math.Exp), 1e-4);
    }

    [TestMethod]
    public void AHandComputedTwoPixelCircuitGivesTheLogLikelihoodsWrittenOutByHand()
    {
        // Two pixels (2×1), 3 categories, K = 2, one CP layer: c(x) = Π_h Σ_i W[h,i]·p_{h,i}(x_h), with p_{h,i} the softmax
        // of unit i's logits for pixel h. Normalised: log p(x) = Σ_h log(Σ_i W[h,i]·p_{h,i}(x_h) / Σ_i W[h,i]).
        var description = new CircuitDescription
        {
            ImageHeight = 2, ImageWidth = 1, Categories = 3, RegionGraph = RegionGraphKind.QuadTree, Layer = LayerKind.CP, Units = 2,
        };
        using var circuit = new TensorizedCircuit(description, seed: 1);
        var cp = circuit.Layers.OfType<Microsoft.ML.Circuits.Layers.CpLayer>().Single();
        Assert.HasCount(1, circuit.Layers, "the two-pixel circuit is one CP layer");
        CollectionAssert.AreEqual(new long[] { 2, 1, 3, 1, 2 }, circuit.Input.Logits.shape);
        CollectionAssert.AreEqual(new long[] { 1, 2, 2, 1 }, cp.Weight.shape);
        double[,,] logits = { { { 0, 2 }, { 1, 0 }, { 2, -1 } }, { { 1, 0 }, { 1, -2 }, { 0, 3 } } }; // [pixel, value, unit]
        double[,] w = { { 0.3, 0.7 }, { 1.5, 0.5 } };                                                 // [pixel, unit]
        using (torch.no_grad())
        {
            circuit.Input.Logits.copy_(torch.tensor(logits.Cast<double>().Select(v => (float)v).ToArray(), [2, 1, 3, 1, 2]));
            cp.Weight.copy_(torch.tensor(w.Cast<double>().Select(v => (float)v).ToArray(), [1, 2, 2, 1]));
        }
        circuit.MarkParametersChanged();

        double P(int pixel, int unit, int value)
        {
            double z = Enumerable.Range(0, 3).Sum(v => Math.Exp(logits[pixel, v, unit]));
            return Math.Exp(logits[pixel, value, unit]) / z;
        }
        using var x = torch.tensor(new long[] { 0, 0, 1, 2, 2, 1, 2, 2 }, [4, 2, 1]);
        using var ll = circuit.LogLikelihood(x);
        var actual = ll.data<float>().ToArray();
        var images = new[] { (0, 0), (1, 2), (2, 1), (2, 2) };
        for (int n = 0; n < 4; n++)
        {
            var (a, b) = images[n];
            double expected = Math.Log((w[0, 0] * P(0, 0, a) + w[0, 1] * P(0, 1, a)) / (w[0, 0] + w[0, 1]))
                            + Math.Log((w[1, 0] * P(1, 0, b) + w[1, 1] * P(1, 1, b)) / (w[1, 0] + w[1, 1]));
            Assert.AreEqual(expected, actual[n], 1e-5, $"image ({a}, {b})");
        }
    }

    [TestMethod]
    public void AOneUnitPoonDomingosCircuitAroundMinusAThousandEqualsTheSumOfItsPixelLogProbabilities()
    {
        // With K = 1 every layer scales one value, so log p(x) = Σ_d log softmax(θ_d)[x_d] whatever the inner and mixing
        // weights are; computed here in float64 from the logits. PD on 16×16 (delta 4, mixing not frozen), 256 categories:
        // about −1400, where every sum-product and mixing contraction must subtract its maximum or underflow to −∞.
        // (None of the configurations tried — QT, QT2, QG, PD, BT on 28×28 and several small shapes, per `circuits info` —
        // folds a mixing layer with padding, so padded mixing folds are not exercised here.)
        var description = Tiny(RegionGraphKind.PoonDomingos, LayerKind.CP, 16, 16, 1, 256, units: 1) with { PoonDomingosDelta = 4, FreezeMixing = MixingFreeze.None };
        using var circuit = new TensorizedCircuit(description, seed: 3);
        Assert.IsTrue(circuit.Plan.Layers.Any(l => l.Role == Microsoft.ML.Circuits.Structure.FoldedLayerRole.Mixing), "no mixing layer");
        using var x = RandomImages(description, 4, seed: 2);
        using var ll = circuit.LogLikelihood(x);
        var actual = ll.data<float>().ToArray();

        var logits = circuit.Input.Logits.detach().to(ScalarType.Float64).view(256, 256).data<double>().ToArray(); // (pixel, value)
        var pixels = x.data<long>().ToArray();
        for (int n = 0; n < 4; n++)
        {
            double expected = 0;
            for (int d = 0; d < 256; d++)
            {
                double max = Enumerable.Range(0, 256).Max(v => logits[d * 256 + v]);
                double logZ = max + Math.Log(Enumerable.Range(0, 256).Sum(v => Math.Exp(logits[d * 256 + v] - max)));
                expected += logits[d * 256 + pixels[n * 256 + d]] - logZ;
            }
            Assert.IsLessThan(-1000.0, expected, "the reference is not in the regime this test is about");
            Assert.AreEqual(expected, actual[n], 5e-3, $"image {n}");
        }
    }
}
