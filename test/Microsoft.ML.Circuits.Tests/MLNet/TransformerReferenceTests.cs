using Microsoft.ML.Data;
using TorchSharp;
using static Microsoft.ML.Circuits.Tests.TinyCircuits;

namespace Microsoft.ML.Circuits.Tests.MLNet;

/// <summary>
/// The transformer's scores against computations that share none of its caches: enumeration of a tiny model through
/// <c>Transform</c> (Σ p = 1), a freshly loaded copy of the model, and multi-channel columns in both channel layouts
/// against the circuit on the (pixel, channel) tensor.
/// </summary>
[TestClass]
public sealed class TransformerReferenceTests
{
    sealed class Tiny4
    {
        [VectorType(4)] public float[] Pixels { get; set; } = [];
    }

    sealed class Rgb
    {
        [VectorType(12)] public float[] Pixels { get; set; } = [];
    }

    [TestMethod]
    public void EveryImageOfATinyModelScoredThroughTheTransformerSumsToOneAndMatchesAFreshlyLoadedCopy()
    {
        var context = new MLContext(seed: 1);
        var description = Tiny(RegionGraphKind.QuadGraph, LayerKind.CP, 2, 2, 1, 4);
        using var transformer = ProbabilisticCircuitTransformer.FromModel(context, new CircuitModel(new TensorizedCircuit(description, seed: 21)), scoringBatchSize: 37);
        using var images = AllImages(description);
        var rows = images.reshape(-1, 4).to(torch.ScalarType.Float32).data<float>().ToArray().Chunk(4).Select(p => new Tiny4 { Pixels = p }).ToList();
        Assert.HasCount(256, rows);
        var data = context.Data.LoadFromEnumerable(rows);
        var ll = MLNetData.Column(transformer.Transform(data), "LogLikelihood");
        Assert.AreEqual(1.0, ll.Sum(v => Math.Exp(v)), 1e-4, "Σ p(x) over every image, scored by the transformer");
        // Scoring again (warm caches) gives the same values.
        CollectionAssert.AreEqual(ll, MLNetData.Column(transformer.Transform(data), "LogLikelihood"));

        // A copy loaded from a zip, evaluated by the circuit's own query (no scorer, no cached log Z).
        string path = Path.Combine(MLNetData.TempFolder(), "tiny.zip");
        CircuitModelFile.Save(context, transformer, path);
        using var loaded = CircuitModelFile.Load(new MLContext(), path);
        using var fresh = loaded.Circuit.LogLikelihood(images);
        var expected = fresh.data<float>().ToArray();
        for (int i = 0; i < expected.Length; i++) Assert.AreEqual(expected[i], ll[i], 1e-5, $"image {i}");
    }

    [TestMethod]
    [DataRow(ChannelLayout.Planar)]
    [DataRow(ChannelLayout.Interleaved)]
    public void MultiChannelColumnsInEitherLayoutScoreAsTheCircuitOnPixelsAndChannels(ChannelLayout layout)
    {
        var context = new MLContext(seed: 1);
        var description = Tiny(RegionGraphKind.QuadGraph, LayerKind.CP, 2, 2, 3, 256);
        using var transformer = ProbabilisticCircuitTransformer.FromModel(context, new CircuitModel(new TensorizedCircuit(description, seed: 4)), channelLayout: layout);
        using var x = RandomImages(description, 6, seed: 12); // (B, D = 4 pixels, C = 3)
        var values = x.data<long>().ToArray();
        var rows = Enumerable.Range(0, 6).Select(b => new Rgb
        {
            Pixels = Enumerable.Range(0, 12).Select(i =>
            {
                // Planar: channel-major (c·D + d), as ExtractPixels writes; interleaved: pixel-major (d·C + c).
                int d = layout == ChannelLayout.Planar ? i % 4 : i / 3, c = layout == ChannelLayout.Planar ? i / 4 : i % 3;
                return (float)values[(b * 4 + d) * 3 + c];
            }).ToArray(),
        }).ToList();
        var ll = MLNetData.Column(transformer.Transform(context.Data.LoadFromEnumerable(rows)), "LogLikelihood");
        using var expected = transformer.Circuit.LogLikelihood(x);
        var reference = expected.data<float>().ToArray();
        for (int b = 0; b < 6; b++) Assert.AreEqual(reference[b], ll[b], 1e-4, $"{layout} row {b}");
        var engine = context.Model.CreatePredictionEngine<Rgb, MLNetData.Scores>(transformer);
        Assert.AreEqual(reference[3], engine.Predict(rows[3]).LogLikelihood, 1e-4, $"{layout} PredictionEngine");

        // The layout is saved: the reloaded model reads the same column the same way.
        string zip = Path.Combine(MLNetData.TempFolder(), "rgb.zip");
        CircuitModelFile.Save(context, transformer, zip);
        var reloaded = new MLContext().Model.Load(zip, out _);
        var again = MLNetData.Column(reloaded.Transform(context.Data.LoadFromEnumerable(rows)), "LogLikelihood");
        for (int b = 0; b < 6; b++) Assert.AreEqual(ll[b], again[b], $"{layout} row {b} after a zip round trip");
        (reloaded as IDisposable)?.Dispose();
    }
}
