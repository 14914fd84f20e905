using Microsoft.ML.Circuits.Semirings;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Tests.Semirings;

/// <summary>Each semiring operation against its definition written out with loops in float64.</summary>
[TestClass]
public sealed class SemiringTests
{
    static readonly Semiring[] All = [Semiring.LogSumExp, Semiring.MaxPlus];

    static double Plus(Semiring s, IEnumerable<double> logValues)
    {
        var v = logValues.ToList();
        if (s == Semiring.MaxPlus) return v.Max();
        double max = v.Max();
        if (double.IsNegativeInfinity(max)) return max;
        return max + Math.Log(v.Sum(x => Math.Exp(x - max)));
    }

    /// <summary>Log-values in about −5..5 with some −∞ entries, and one slice that is entirely −∞.</summary>
    internal static Tensor LogValues(long[] shape, int seed)
    {
        using var g = new Generator((ulong)seed, torch.CPU);
        var x = torch.randn(shape, ScalarType.Float32, generator: g).mul_(2.5);
        using var holes = torch.rand(shape, ScalarType.Float32, generator: g).lt(0.2);
        x.masked_fill_(holes, float.NegativeInfinity);
        x[0, 0].fill_(float.NegativeInfinity);
        return x;
    }

    static Tensor Weights(long[] shape, int seed)
    {
        using var g = new Generator((ulong)seed, torch.CPU);
        var w = torch.rand(shape, ScalarType.Float32, generator: g);
        w[0, 0].fill_(0f); // a zero weight must never win a maximum nor add to a sum
        return w;
    }

    static void AssertClose(double expected, float actual, string what)
    {
        if (double.IsNegativeInfinity(expected)) { Assert.IsTrue(float.IsNegativeInfinity(actual), $"{what}: expected −∞, got {actual}"); return; }
        Assert.IsTrue(float.IsFinite(actual), $"{what}: expected {expected}, got {actual}");
        Assert.AreEqual(expected, actual, 1e-4 * Math.Max(1, Math.Abs(expected)), what);
    }

    [TestMethod]
    public void MatMulIsTheSemiringSumOfProducts()
    {
        foreach (var s in All)
        {
            using var x = LogValues([3, 4, 5], 1);
            using var w = Weights([3, 5, 2], 2);
            using var y = s.MatMul(x, w);
            CollectionAssert.AreEqual(new long[] { 3, 4, 2 }, y.shape);
            var xs = x.to(ScalarType.Float64).data<double>().ToArray();
            var ws = w.to(ScalarType.Float64).data<double>().ToArray();
            for (int n = 0; n < 3; n++)
                for (int b = 0; b < 4; b++)
                    for (int o = 0; o < 2; o++)
                    {
                        double expected = Plus(s, Enumerable.Range(0, 5).Select(i => xs[(n * 4 + b) * 5 + i] + Math.Log(ws[(n * 5 + i) * 2 + o])));
                        AssertClose(expected, y[n, b, o].item<float>(), $"{s} MatMul[{n},{b},{o}]");
                    }
        }
    }

    [TestMethod]
    public void OuterMatMulIsTheTuckerContraction()
    {
        foreach (var s in All)
        {
            using var left = LogValues([2, 3, 4], 3);
            using var right = LogValues([2, 3, 4], 4);
            using var w = Weights([2, 16, 3], 5);
            using var y = s.OuterMatMul(left, right, w);
            var l = left.to(ScalarType.Float64).data<double>().ToArray();
            var r = right.to(ScalarType.Float64).data<double>().ToArray();
            var ws = w.to(ScalarType.Float64).data<double>().ToArray();
            for (int f = 0; f < 2; f++)
                for (int b = 0; b < 3; b++)
                    for (int o = 0; o < 3; o++)
                    {
                        var terms = from i in Enumerable.Range(0, 4) from j in Enumerable.Range(0, 4)
                                    select l[(f * 3 + b) * 4 + i] + r[(f * 3 + b) * 4 + j] + Math.Log(ws[(f * 16 + i * 4 + j) * 3 + o]);
                        AssertClose(Plus(s, terms), y[f, b, o].item<float>(), $"{s} OuterMatMul[{f},{b},{o}]");
                    }
        }
    }

    [TestMethod]
    public void WeightedSumReducesOneDimension()
    {
        foreach (var s in All)
        {
            using var x = LogValues([3, 4, 2, 5], 6);
            using var w = Weights([3, 4, 1, 5], 7);
            using var y = s.WeightedSum(x, w, 1);
            CollectionAssert.AreEqual(new long[] { 3, 2, 5 }, y.shape);
            var xs = x.to(ScalarType.Float64).data<double>().ToArray();
            var ws = w.to(ScalarType.Float64).data<double>().ToArray();
            for (int f = 0; f < 3; f++)
                for (int b = 0; b < 2; b++)
                    for (int k = 0; k < 5; k++)
                    {
                        var terms = Enumerable.Range(0, 4).Select(h => xs[((f * 4 + h) * 2 + b) * 5 + k] + Math.Log(ws[(f * 4 + h) * 5 + k]));
                        AssertClose(Plus(s, terms), y[f, b, k].item<float>(), $"{s} WeightedSum[{f},{b},{k}]");
                    }
        }
    }

    [TestMethod]
    public void OnlyLogSumExpSumsANormalisedDistributionToZero()
    {
        Assert.IsTrue(Semiring.LogSumExp.SumOfNormalizedIsZero);
        Assert.IsFalse(Semiring.MaxPlus.SumOfNormalizedIsZero);
        using var logProbs = torch.tensor(new[] { 0.2f, 0.5f, 0.3f }).log();
        Assert.AreEqual(0.0, Semiring.LogSumExp.Sum(logProbs, 0).item<float>(), 1e-6);
        Assert.AreEqual(Math.Log(0.5), Semiring.MaxPlus.Sum(logProbs, 0).item<float>(), 1e-6);
    }
}
