using Microsoft.ML.Circuits.Queries;
using TorchSharp;
using static TorchSharp.torch;
using static Microsoft.ML.Circuits.Tests.TinyCircuits;

namespace Microsoft.ML.Circuits.Tests.Queries;

/// <summary>
/// Sampling, conditional sampling and MAP completion on tiny circuits (every region graph × layer kind × every
/// reparameterisation) against enumeration: sample frequencies match p(x) and p(x_m | x_o) by a chi-square test at a
/// fixed seed, and the MAP completion reaches the brute-force maximum of the max-product circuit.
/// </summary>
[TestClass]
public sealed class SamplingQueryTests
{
    public static IEnumerable<object[]> Cases() =>
        from c in SupportedCombinations()
        from r in Enum.GetValues<Reparameterization>()
        select new object[] { c.Item1, c.Item2, r };

    /// <summary>Image shapes small enough for a chi-square over every image; one per reparameterisation, so that
    /// multi-channel and non-square images are both covered.</summary>
    static readonly (int H, int W, int C, int N)[] SamplingShapes = [(2, 2, 1, 3), (2, 2, 2, 2), (3, 2, 1, 2)];

    static CircuitDescription Describe(RegionGraphKind graph, LayerKind layer, Reparameterization reparameterization)
    {
        var (h, w, c, n) = SamplingShapes[(int)reparameterization % SamplingShapes.Length];
        // Trainable mixing (freeze none) so that unequal mixing weights are exercised too.
        return Tiny(graph, layer, h, w, c, n, reparameterization: reparameterization, freeze: MixingFreeze.None);
    }

    /// <summary>The index of each image in the order of <see cref="TinyCircuits.AllImages"/>.</summary>
    static long[] ImageIndices(Tensor images, int categories)
    {
        var flat = images.view(images.shape[0], -1).data<long>().ToArray();
        int width = (int)(flat.Length / images.shape[0]);
        var result = new long[images.shape[0]];
        for (int i = 0; i < result.Length; i++)
        {
            long index = 0;
            for (int v = 0; v < width; v++) index = index * categories + flat[i * width + v];
            result[i] = index;
        }
        return result;
    }

    /// <summary>
    /// Pearson's chi-square of <paramref name="indices"/> against <paramref name="probabilities"/> (cells with an
    /// expected count below 5 pooled), and the critical value at p = 1e-6 (Wilson–Hilferty).
    /// </summary>
    static (double Statistic, double Critical) ChiSquare(long[] indices, double[] probabilities)
    {
        var counts = new double[probabilities.Length];
        foreach (var i in indices) counts[i]++;
        double n = indices.Length, statistic = 0, pooledObserved = 0, pooledExpected = 0;
        int cells = 0;
        for (int i = 0; i < probabilities.Length; i++)
        {
            double expected = n * probabilities[i];
            if (expected < 5) { pooledObserved += counts[i]; pooledExpected += expected; continue; }
            statistic += (counts[i] - expected) * (counts[i] - expected) / expected;
            cells++;
        }
        if (pooledExpected > 0)
        {
            statistic += (pooledObserved - pooledExpected) * (pooledObserved - pooledExpected) / Math.Max(pooledExpected, 1e-9);
            cells++;
        }
        double k = cells - 1, z = 4.753;
        double critical = k * Math.Pow(1 - 2 / (9 * k) + z * Math.Sqrt(2 / (9 * k)), 3);
        return (statistic, critical);
    }

    /// <summary>
    /// True when enumerated image <paramref name="image"/> (values in <paramref name="all"/>, <paramref name="width"/>
    /// per image) equals evidence row <paramref name="row"/> of <paramref name="evidence"/> at every value whose pixel
    /// is not <paramref name="isMissing"/>(value index).
    /// </summary>
    static bool AgreesWithEvidence(long[] all, long image, long[] evidence, int row, Func<int, bool> isMissing, int width)
    {
        for (int v = 0; v < width; v++)
            if (!isMissing(v) && all[image * width + v] != evidence[(long)row * width + v]) return false;
        return true;
    }

    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void SamplesFollowTheExactDistribution(RegionGraphKind graph, LayerKind layer, Reparameterization reparameterization) =>
        CheckSamplesFollowTheExactDistribution(Describe(graph, layer, reparameterization));

    static void CheckSamplesFollowTheExactDistribution(CircuitDescription description)
    {
        using var scope = NewDisposeScope();
        using var _ = torch.no_grad();
        using var circuit = new TensorizedCircuit(description, seed: 7);
        var probabilities = circuit.LogLikelihood(AllImages(description)).to(ScalarType.Float64).exp().data<double>().ToArray();

        var samples = new SamplingQuery(circuit) { BatchSize = 30000 }.Sample(30000, seed: 11);
        Assert.AreEqual(ScalarType.Int64, samples.dtype);
        CollectionAssert.AreEqual(new long[] { 30000, description.Variables, description.Channels }, samples.shape);
        var (statistic, critical) = ChiSquare(ImageIndices(samples, description.Categories), probabilities);
        Assert.IsLessThan(critical, statistic, $"{description}: chi-square {statistic:F1} over the critical value {critical:F1}");
    }

    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void ConditionalSamplesFollowTheExactConditional(RegionGraphKind graph, LayerKind layer, Reparameterization reparameterization) =>
        CheckConditionalSamplesFollowTheExactConditional(Describe(graph, layer, reparameterization));

    static void CheckConditionalSamplesFollowTheExactConditional(CircuitDescription description)
    {
        using var scope = NewDisposeScope();
        using var _ = torch.no_grad();
        using var circuit = new TensorizedCircuit(description, seed: 8);
        int d = description.Variables;
        // Evidence: one image; the first and last pixels observed, the rest missing.
        var x = RandomImages(description, 1, seed: 3);
        var missingRow = Enumerable.Range(0, d).Select(v => v != 0 && v != d - 1).ToArray();

        // Exact conditional by enumeration: p(x) of every image consistent with the evidence, normalised.
        var all = AllImages(description);
        var logP = circuit.LogLikelihood(all).to(ScalarType.Float64).data<double>().ToArray();
        var allValues = all.view(all.shape[0], -1).data<long>().ToArray();
        var evidence = x.view(-1).data<long>().ToArray();
        int width = d * description.Channels;
        var conditional = new double[logP.Length];
        for (int i = 0; i < logP.Length; i++)
        {
            conditional[i] = AgreesWithEvidence(allValues, i, evidence, 0, v => missingRow[v / description.Channels], width) ? Math.Exp(logP[i]) : 0;
        }
        double total = conditional.Sum();
        for (int i = 0; i < conditional.Length; i++) conditional[i] /= total;

        const int draws = 20000;
        var batch = x.expand(draws, d, description.Channels).contiguous();
        var missing = torch.tensor(missingRow).view(1, d).expand(draws, d).contiguous();
        var samples = new SamplingQuery(circuit).SampleConditional(batch, missing, seed: 5);
        var indices = ImageIndices(samples, description.Categories);
        Assert.IsTrue(indices.All(i => conditional[i] > 0), $"{description}: a conditional sample changed an observed pixel");
        var (statistic, critical) = ChiSquare(indices, conditional);
        Assert.IsLessThan(critical, statistic, $"{description}: chi-square {statistic:F1} over the critical value {critical:F1}");
    }

    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void MapCompletionReachesTheBruteForceMaximumOfTheMaxProductCircuit(RegionGraphKind graph, LayerKind layer, Reparameterization reparameterization) =>
        CheckMapCompletionReachesTheBruteForceMaximumOfTheMaxProductCircuit(Describe(graph, layer, reparameterization));

    static void CheckMapCompletionReachesTheBruteForceMaximumOfTheMaxProductCircuit(CircuitDescription description)
    {
        using var scope = NewDisposeScope();
        using var _ = torch.no_grad();
        using var circuit = new TensorizedCircuit(description, seed: 9);
        var query = new MaxProductQuery(circuit);
        var all = AllImages(description);
        var values = query.Evaluate(all).to(ScalarType.Float64).data<double>().ToArray();
        var allValues = all.view(all.shape[0], -1).data<long>().ToArray();
        int d = description.Variables, width = d * description.Channels;

        var x = RandomImages(description, 4, seed: 21);
        using var g = new Generator(4, torch.CPU);
        var missing = torch.rand([4, d], generator: g).lt(0.5);
        missing[0].fill_(true);   // nothing observed: the max-product circuit's global maximiser
        missing[1].fill_(false);  // nothing missing: the image itself
        var completed = query.Complete(x, missing);
        var completedValues = query.Evaluate(completed).to(ScalarType.Float64).data<double>().ToArray();
        var xs = x.view(4, -1).data<long>().ToArray();
        var cs = completed.view(4, -1).data<long>().ToArray();
        var ms = missing.data<bool>().ToArray();
        for (int b = 0; b < 4; b++)
        {
            double best = double.NegativeInfinity;
            for (long i = 0; i < values.Length; i++)
                if (AgreesWithEvidence(allValues, i, xs, b, v => ms[b * d + v / description.Channels], width)) best = Math.Max(best, values[i]);
            for (int v = 0; v < width; v++)
                if (!ms[b * d + v / description.Channels])
                    Assert.AreEqual(xs[b * width + v], cs[b * width + v], $"{description}, image {b}: an observed pixel changed");
            Assert.AreEqual(best, completedValues[b], 1e-4 * Math.Max(1, Math.Abs(best)),
                $"{description}, image {b}: the completion's max-product value {completedValues[b]} vs the brute-force maximum {best}");
        }
    }

    /// <summary>
    /// Poon–Domingos with delta 2 on 4×2 images: input regions of 2×2 pixels, so a region's chosen unit must reach each
    /// of its pixels (the other cases have one-pixel input regions).
    /// </summary>
    [TestMethod]
    [DataRow(LayerKind.CP)]
    [DataRow(LayerKind.Tucker)]
    [DataRow(LayerKind.CPXS)]
    public void MultiPixelInputRegionsSampleAndCompleteExactly(LayerKind layer)
    {
        var description = Tiny(RegionGraphKind.PoonDomingos, layer, 4, 2, 1, 2, freeze: MixingFreeze.None) with { PoonDomingosDelta = 2 };
        CheckSamplesFollowTheExactDistribution(description);
        CheckConditionalSamplesFollowTheExactConditional(description);
        CheckMapCompletionReachesTheBruteForceMaximumOfTheMaxProductCircuit(description);
    }

    [TestMethod]
    public void SamplingIsReproducibleForASeedAndDiffersAcrossSeeds()
    {
        var description = Tiny(RegionGraphKind.QuadGraph, LayerKind.CP, 4, 4, 1, 4);
        using var scope = NewDisposeScope();
        using var circuit = new TensorizedCircuit(description, seed: 1);
        var query = new SamplingQuery(circuit) { BatchSize = 16 };
        var first = query.Sample(40, seed: 3);
        var again = query.Sample(40, seed: 3);
        var other = query.Sample(40, seed: 4);
        Assert.IsTrue(first.equal(again).all().item<bool>(), "the same seed gives the same samples");
        Assert.IsFalse(first.equal(other).all().item<bool>(), "another seed gives other samples");
        Assert.IsGreaterThanOrEqualTo(0L, first.min().item<long>());
        Assert.IsLessThan(4L, first.max().item<long>());
    }

    [TestMethod]
    public void BadArgumentsAreRejectedWithMessagesThatSayWhatIsAllowed()
    {
        var description = Tiny(RegionGraphKind.QuadGraph, LayerKind.CP, 2, 2, 1, 3);
        using var circuit = new TensorizedCircuit(description, seed: 1);
        var count = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new SamplingQuery(circuit).Sample(0, 1));
        StringAssert.Contains(count.Message, "at least 1");
        var batch = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new SamplingQuery(circuit) { BatchSize = 0 });
        StringAssert.Contains(batch.Message, "BatchSize must be at least 1");
        using var x = torch.zeros([2, 4, 1], ScalarType.Int64);
        using var wrongMask = torch.zeros([2, 3], ScalarType.Bool);
        var mask = Assert.ThrowsExactly<ArgumentException>(() => new SamplingQuery(circuit).SampleConditional(x, wrongMask, 1));
        StringAssert.Contains(mask.Message, "missing mask must be a bool tensor of shape (B=2, D=4)");
        using var outOfRange = torch.full([2, 4, 1], 3L, ScalarType.Int64);
        using var mask2 = torch.zeros([2, 4], ScalarType.Bool);
        var range = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new MaxProductQuery(circuit).Complete(outOfRange, mask2));
        StringAssert.Contains(range.Message, "0..2");
    }
}
