using System.Globalization;
using Microsoft.ML.Circuits.Queries;
using Microsoft.ML.Data;
using TorchSharp;
using static Microsoft.ML.Circuits.Tests.MLNet.MLNetData;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Tests.MLNet;

/// <summary>
/// The queries beyond likelihood through ML.NET: NaN pixels as missing values (marginal log-likelihoods), the
/// inpainting transformer (MAP and conditional samples, saved and reloaded in a fresh process), and sampling from a
/// fitted transformer.
/// </summary>
[TestClass]
public sealed class MissingPixelsAndInpaintingTests
{
    static MLContext ml = null!;
    static ProbabilisticCircuitTransformer fitted = null!;

    [ClassInitialize]
    public static void FitOnce(TestContext _)
    {
        ml = new MLContext(seed: 1);
        var options = SmallOptions();
        options.RegionGraph = RegionGraphKind.QuadGraph;
        options.Units = 4;
        options.AllowMissingPixels = true;
        fitted = ml.Transforms.ProbabilisticCircuit(options).Fit(ml.Data.LoadFromEnumerable(Digits(MLNetData.Train, 512)));
    }

    [ClassCleanup]
    public static void Cleanup() => fitted.Dispose();

    /// <summary>The first <paramref name="count"/> test digits, with NaN where <paramref name="missing"/>(row, pixel) holds.</summary>
    static List<FlatDigit> WithMissing(int count, Func<int, int, bool> missing) =>
        Enumerable.Range(0, count).Select(i => new FlatDigit
        {
            Pixels = MLNetData.Test.Image(i).ToArray().Select((b, j) => missing(i, j) ? float.NaN : b).ToArray(),
        }).ToList();

    static bool LeftHalf(int row, int pixel) => pixel % 28 < 14;

    /// <summary>Row r misses pixels whose index is ≡ r mod 3, except row 0 (complete) and row 1 (nothing observed).</summary>
    static bool PerRow(int row, int pixel) => row == 1 || (row != 0 && pixel % 3 == row % 3);

    static Tensor MaskOf(int count, Func<int, int, bool> missing) =>
        torch.tensor(Enumerable.Range(0, count).SelectMany(i => Enumerable.Range(0, 784).Select(j => missing(i, j))).ToArray(), [count, 784]);

    [TestMethod]
    public void NaNPixelsAreSummedOutAndTheScoresAreTheExactMarginals()
    {
        const int n = 30;
        var scored = fitted.Transform(ml.Data.LoadFromEnumerable(WithMissing(n, PerRow)));
        var ll = Column(scored, "LogLikelihood");
        var bpd = Column(scored, "BitsPerDimension");

        // Uncached reference: the marginal query on a fresh copy of the circuit.
        using var payload = new MemoryStream();
        fitted.Model.Save(payload);
        payload.Position = 0;
        using var copy = CircuitModel.Load(payload);
        using var _ = torch.no_grad();
        using var x = MLNetData.Test.Batch(0, n);
        using var mask = MaskOf(n, PerRow);
        var expected = new MarginalQuery(copy.Circuit).Evaluate(x, mask).to(ScalarType.Float64).data<double>().ToArray();
        var full = copy.Circuit.LogLikelihood(x).data<float>().ToArray();
        for (int i = 0; i < n; i++)
        {
            Assert.AreEqual(expected[i], ll[i], 1e-3 * Math.Max(1, Math.Abs(expected[i])), $"row {i}: marginal log-likelihood");
            int observed = Enumerable.Range(0, 784).Count(j => !PerRow(i, j));
            if (observed > 0) Assert.AreEqual(-ll[i] / (Math.Log(2) * observed), bpd[i], 1e-4, $"row {i}: bits per observed dimension");
        }
        Assert.AreEqual(full[0], ll[0], 1e-3, "a row without NaN scores its full log-likelihood");
        Assert.AreEqual(0.0, ll[1], 1e-3, "nothing observed: log p = log 1");
        Assert.IsTrue(float.IsNaN(bpd[1]), "nothing observed: no bits per observed dimension");
        Assert.IsTrue(ll.Skip(2).Zip(full.Skip(2)).All(p => p.First > p.Second), "a marginal of fewer pixels is more likely than the full image");
    }

    [TestMethod]
    public void WithoutTheOptionNaNIsStillAClearError()
    {
        using var strict = ProbabilisticCircuitTransformer.FromModel(ml, Copy(fitted));
        Assert.IsFalse(strict.AllowMissingPixels);
        var error = Assert.ThrowsExactly<InvalidDataException>(() => Column(strict.Transform(ml.Data.LoadFromEnumerable(WithMissing(3, LeftHalf))), "LogLikelihood"));
        StringAssert.Contains(error.Message, "NaN is not a pixel value");
    }

    [TestMethod]
    public void TheMissingPixelsOptionSurvivesAZipRoundTrip()
    {
        string zip = Path.Combine(TempFolder(), "marginal.zip");
        var data = ml.Data.LoadFromEnumerable(WithMissing(10, LeftHalf));
        ml.Model.Save(fitted, data.Schema, zip);
        var loaded = ml.Model.Load(zip, out _);
        Assert.IsTrue(((ProbabilisticCircuitTransformer)loaded).AllowMissingPixels);
        CollectionAssert.AreEqual(Column(fitted.Transform(data), "LogLikelihood"), Column(loaded.Transform(data), "LogLikelihood"));
    }

    [TestMethod]
    public void MapInpaintingKeepsObservedPixelsAndEqualsTheMaxProductCompletion()
    {
        const int n = 12;
        using var inpainter = ml.Transforms.InpaintWithCircuit(fitted, "Inpainted", InpaintingMethod.Map);
        var output = inpainter.Transform(ml.Data.LoadFromEnumerable(WithMissing(n, LeftHalf)));
        Assert.AreEqual(output.Schema["Pixels"].Type, output.Schema["Inpainted"].Type, "the completed column has the input column's type");
        var fromBytes = inpainter.Transform(ml.Data.LoadFromEnumerable(new[] { new ByteDigit { Pixels = new byte[784] } }));
        Assert.AreEqual(new VectorDataViewType(NumberDataViewType.Single, 28, 28), fromBytes.Schema["Inpainted"].Type, "Byte columns come back as Single images");
        var rows = output.GetColumn<float[]>("Inpainted").ToList();

        using var _ = torch.no_grad();
        using var x = MLNetData.Test.Batch(0, n);
        using var mask = MaskOf(n, LeftHalf);
        var expected = new MaxProductQuery(fitted.Circuit).Complete(x, mask).view(n, 784).data<long>().ToArray();
        for (int i = 0; i < n; i++)
        {
            var original = MLNetData.Test.Image(i).ToArray();
            for (int j = 0; j < 784; j++)
            {
                Assert.AreEqual((float)expected[i * 784 + j], rows[i][j], $"row {i}, pixel {j}");
                if (!LeftHalf(i, j)) Assert.AreEqual(original[j], rows[i][j], $"row {i}, pixel {j}: observed pixels are copied");
            }
        }
        // The completion is a real guess, not the zeros the missing bytes hold: some filled pixels are ink.
        Assert.IsTrue(rows.Any(r => Enumerable.Range(0, 784).Any(j => LeftHalf(0, j) && r[j] > 0)), "MAP filled in no ink at all");
    }

    [TestMethod]
    public void ConditionalSamplesAreSeededAndDifferFromMap()
    {
        var data = ml.Data.LoadFromEnumerable(WithMissing(8, LeftHalf));
        float[][] Run(InpaintingMethod method, int seed)
        {
            using var t = ml.Transforms.InpaintWithCircuit(fitted, method: method, seed: seed);
            return [.. t.Transform(data).GetColumn<float[]>("Inpainted")];
        }
        var a = Run(InpaintingMethod.ConditionalSample, 3);
        var b = Run(InpaintingMethod.ConditionalSample, 3);
        var c = Run(InpaintingMethod.ConditionalSample, 4);
        var map = Run(InpaintingMethod.Map, 0);
        Assert.IsTrue(a.Zip(b).All(p => p.First.SequenceEqual(p.Second)), "same seed, same completions");
        Assert.IsFalse(a.Zip(c).All(p => p.First.SequenceEqual(p.Second)), "another seed, other completions");
        Assert.IsFalse(a.Zip(map).All(p => p.First.SequenceEqual(p.Second)), "samples are not the MAP completion");
    }

    [TestMethod]
    public void AnInpaintingModelReloadsInAFreshProcessWithTheSameCompletions()
    {
        string folder = TempFolder();
        string zip = Path.Combine(folder, "inpaint.zip");
        const int n = 6;
        using var inpainter = ml.Transforms.InpaintWithCircuit(fitted, "Inpainted", InpaintingMethod.ConditionalSample, seed: 17);
        var data = ml.Data.LoadFromEnumerable(WithMissing(n, LeftHalf));
        ml.Model.Save(inpainter, data.Schema, zip);
        var expected = inpainter.Transform(data).GetColumn<float[]>("Inpainted").ToList();

        var lines = ProbabilisticCircuitEstimatorTests.RunModelLoadCheck(zip, WriteTestImages(folder, n), n, leftHalfMissing: true);
        Assert.AreEqual("columns Inpainted:Vector<Single, 784>", lines[0]);
        var vectors = lines.Where(l => l.StartsWith("vector Inpainted ")).Select(l => l.Split(' ').Skip(2).Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToList();
        Assert.HasCount(n, vectors);
        for (int i = 0; i < n; i++)
            CollectionAssert.AreEqual(expected[i], vectors[i], $"row {i}: the reloaded model completes differently");
    }

    [TestMethod]
    public void SamplesComeBackInTheColumnsFormatAndScoreThroughTheTransformer()
    {
        var samples = fitted.Sample(16, seed: 5);
        Assert.HasCount(16, samples);
        Assert.IsTrue(samples.All(s => s.Length == 784 && s.All(v => v >= 0 && v <= 255 && v == MathF.Round(v))));
        CollectionAssert.AreEqual(samples[3], fitted.Sample(16, seed: 5)[3], "the same seed gives the same images");
        var view = fitted.SampleDataView(16, seed: 5);
        Assert.AreEqual(new VectorDataViewType(NumberDataViewType.Single, 28, 28), view.Schema["Pixels"].Type);
        Assert.IsTrue(Column(fitted.Transform(view), "LogLikelihood").All(float.IsFinite));

        // At 28×28, where enumeration is impossible: how often a pixel is black in the samples matches the exact
        // marginal p(x_j = 0) (every other pixel summed out), within 4.5 standard errors.
        const int draws = 400;
        var many = fitted.Sample(draws, seed: 6);
        using var _ = torch.no_grad();
        foreach (int pixel in new[] { 0, 14 * 28 + 14, 20 * 28 + 10 })
        {
            using var x = torch.zeros([1, 784, 1], ScalarType.Int64);
            using var missing = torch.ones([1, 784], ScalarType.Bool);
            missing[0, pixel] = false;
            double p = Math.Exp(fitted.Circuit.MarginalLogLikelihood(x, missing).item<float>());
            double frequency = many.Count(s => s[pixel] == 0) / (double)draws;
            double error = Math.Sqrt(p * (1 - p) / draws);
            Assert.AreEqual(p, frequency, 4.5 * error + 1e-3, $"pixel {pixel}: p(black) {p:F3}, sample frequency {frequency:F3}");
        }
    }

    [TestMethod]
    public void PlanarAndInterleavedMultiChannelColumnsRoundTripThroughInpainting()
    {
        // A 2×2 RGB circuit; the same image in both layouts must come back in its own layout, observed values intact.
        var description = new CircuitDescription { ImageHeight = 2, ImageWidth = 2, Channels = 3, RegionGraph = RegionGraphKind.QuadTree, Units = 2 };
        var pixels = Enumerable.Range(0, 12).Select(i => (float)(i * 20)).ToArray(); // (pixel, channel) order
        foreach (var layout in new[] { ChannelLayout.Planar, ChannelLayout.Interleaved })
        {
            var column = layout == ChannelLayout.Planar
                ? Enumerable.Range(0, 12).Select(k => pixels[(k % 4) * 3 + k / 4]).ToArray()
                : pixels;
            column[layout == ChannelLayout.Planar ? 1 : 3] = float.NaN; // pixel 1, all three channels
            column[layout == ChannelLayout.Planar ? 5 : 4] = float.NaN;
            column[layout == ChannelLayout.Planar ? 9 : 5] = float.NaN;
            var data = ml.Data.LoadFromEnumerable([new Rgb { Pixels = column }]);
            using var t = CircuitInpaintingTransformer.FromModel(ml, new CircuitModel(new TensorizedCircuit(description, seed: 2)), channelLayout: layout);
            var result = t.Transform(data).GetColumn<float[]>("Inpainted").Single();
            for (int k = 0; k < 12; k++)
                if (!float.IsNaN(column[k])) Assert.AreEqual(column[k], result[k], $"{layout}, value {k}");
                else Assert.IsTrue(result[k] is >= 0 and <= 255, $"{layout}, value {k} was not filled");
        }
        var partial = Enumerable.Range(0, 12).Select(i => i == 0 ? float.NaN : 10f).ToArray();
        using var strict = CircuitInpaintingTransformer.FromModel(ml, new CircuitModel(new TensorizedCircuit(description, seed: 2)), channelLayout: ChannelLayout.Interleaved);
        var error = Assert.ThrowsExactly<InvalidDataException>(() => strict.Transform(ml.Data.LoadFromEnumerable([new Rgb { Pixels = partial }])).GetColumn<float[]>("Inpainted").ToList());
        StringAssert.Contains(error.Message, "NaN in 1 of its 3 channels");
    }

    sealed class Rgb
    {
        [VectorType(12)] public float[] Pixels { get; set; } = [];
    }

    static CircuitModel Copy(CircuitTransformerBase transformer) => transformer.Model.CopyTo(torch.CPU);
}
