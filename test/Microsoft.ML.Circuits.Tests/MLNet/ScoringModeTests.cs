using System.Security.Cryptography;
using System.Text;
using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Circuits.Training;
using Microsoft.ML.Data;
using TorchSharp;
using static Microsoft.ML.Circuits.Tests.TinyCircuits;

namespace Microsoft.ML.Circuits.Tests.MLNet;

/// <summary>
/// <see cref="ScoringMode"/>: models made now score on the fast path (the native kernels where they load), models
/// written before the field existed on the managed reference bit for bit; the mode is saved, read back, validated, and
/// followed by the transformer, the anomaly threshold and <see cref="Evaluation"/>.
/// </summary>
[TestClass]
public sealed class ScoringModeTests
{
    sealed class Small
    {
        [VectorType(25)] public float[] Pixels { get; set; } = [];
    }

    static (CircuitDescription Description, ImageDataset Images, List<Small> Rows) SmallImages()
    {
        var description = Tiny(RegionGraphKind.QuadGraph, LayerKind.CP, 5, 5, 1, 7, units: 5);
        using var x = RandomImages(description, 20, seed: 4);
        var bytes = x.data<long>().ToArray().Select(v => (byte)v).ToArray();
        var rows = bytes.Chunk(25).Select(p => new Small { Pixels = p.Select(b => (float)b).ToArray() }).ToList();
        return (description, new ImageDataset(5, 5, 1, bytes, name: "random 5×5"), rows);
    }

    static float[] Floats(double[] values) => values.Select(v => (float)v).ToArray();

    [TestMethod]
    public void NewModelsScoreOnTheFastPathAndTheTransformerFollowsTheModelsMode()
    {
        var context = new MLContext(seed: 1);
        var (description, images, rows) = SmallImages();
        var model = new CircuitModel(new TensorizedCircuit(description, seed: 3));
        Assert.AreEqual(ScoringMode.Fast, model.Metadata.Scoring, "a model made now");
        using var transformer = ProbabilisticCircuitTransformer.FromModel(context, model, scoringBatchSize: 7);
        var data = context.Data.LoadFromEnumerable(rows);

        var fast = Evaluation.LogLikelihoods(model.Circuit, images, ScoringMode.Fast);
        var reference = Evaluation.LogLikelihoods(model.Circuit, images, ScoringMode.Reference);
        CollectionAssert.AreEqual(reference, Evaluation.LogLikelihoods(model.Circuit, images), "Evaluation's default is the reference");
        for (int i = 0; i < fast.Length; i++) Assert.AreEqual(reference[i], fast[i], 1e-4, $"image {i}: the two modes agree to float32 rounding");
        if (TensorizedCircuit.NativeKernelsUnavailable is null)
            Assert.IsFalse(fast.SequenceEqual(reference), "the fast scores did run on the native kernels (they round differently)");
        CollectionAssert.AreEqual(Floats(fast), MLNetData.Column(transformer.Transform(data), "LogLikelihood"), "the transformer scores a Fast model on the fast path");
        // The fast path gathers the input regions from the table converted once: the same bits as gathering log-values
        // and converting them batch by batch.
        using (torch.no_grad())
        {
            using var x = TinyCircuits.RandomImages(description, 20, seed: 4);
            using var table = model.Circuit.Input.LogProbabilities();
            using var scaledTable = model.Circuit.ScaledInputTable(table, Microsoft.ML.Circuits.Semirings.Semiring.ScaledLinear);
            if (TensorizedCircuit.NativeKernelsUnavailable is null) Assert.IsNotNull(scaledTable, "a single-channel QG-CP circuit on the native kernels");
            if (scaledTable is not null)
            {
                using var gathered = model.Circuit.UpwardScaledTable(x, scaledTable);
                using var converted = Microsoft.ML.Circuits.Queries.MarginalQuery.Upward(model.Circuit, x, null, Microsoft.ML.Circuits.Semirings.Semiring.ScaledLinear, table);
                CollectionAssert.AreEqual(converted.data<float>().ToArray(), gathered.data<float>().ToArray(), "the table converted once");
            }
        }
        // A row's score does not depend on the batch it is scored in: one row at a time gives the same bits.
        var engine = context.Model.CreatePredictionEngine<Small, MLNetData.Scores>(transformer);
        CollectionAssert.AreEqual(Floats(fast), rows.Select(r => engine.Predict(r).LogLikelihood).ToArray(), "PredictionEngine, row by row");

        // The scorer's caches follow the circuit's kernels: on the managed kernels a Fast model scores as Evaluation does there.
        model.Circuit.KernelPreference = LayerKernelPreference.Managed;
        var managedFast = Evaluation.LogLikelihoods(model.Circuit, images, ScoringMode.Fast);
        CollectionAssert.AreEqual(Floats(managedFast), MLNetData.Column(transformer.Transform(data), "LogLikelihood"), "after switching to the managed kernels");
        if (TensorizedCircuit.NativeKernelsUnavailable is null)
            Assert.IsFalse(managedFast.SequenceEqual(fast), "the managed kernels round differently, so the check above could tell the two apart");
        model.Circuit.KernelPreference = LayerKernelPreference.Auto;
        CollectionAssert.AreEqual(Floats(fast), MLNetData.Column(transformer.Transform(data), "LogLikelihood"), "back on the native kernels");

        // The scorer reads the mode at every batch: switching the model to Reference gives the reference bits.
        model.Metadata = model.Metadata with { Scoring = ScoringMode.Reference };
        CollectionAssert.AreEqual(Floats(reference), MLNetData.Column(transformer.Transform(data), "LogLikelihood"), "a Reference model scores on the reference");

        // The mode is saved in the zip and read back, either way.
        string folder = MLNetData.TempFolder();
        foreach (var mode in new[] { ScoringMode.Reference, ScoringMode.Fast })
        {
            model.Metadata = model.Metadata with { Scoring = mode };
            string zip = Path.Combine(folder, $"{mode}.zip");
            CircuitModelFile.Save(context, transformer, zip);
            using var loaded = CircuitModelFile.Load(new MLContext(), zip);
            Assert.AreEqual(mode, loaded.Model.Metadata.Scoring, "the saved mode");
            CollectionAssert.AreEqual(Floats(mode == ScoringMode.Fast ? fast : reference),
                MLNetData.Column(loaded.Transform(data), "LogLikelihood"), $"the reloaded {mode} model's scores");
        }
    }

    [TestMethod]
    [DataRow("v1-qg-cp-clamp", true)]
    [DataRow("v1-pd-tucker-softmax", true)]
    [DataRow("v1-qt-cps-exp", false)] // K = 2: the native kernels happen to round as the reference on these digits
    public void ModelZipsWrittenBeforeTheModeExistedScoreOnTheReferenceBitForBit(string name, bool pathsDiffer)
    {
        var context = new MLContext(seed: 1);
        using var transformer = CircuitModelFile.Load(context, Path.Combine(AppContext.BaseDirectory, "Fixtures", name + ".zip"));
        Assert.AreEqual(ScoringMode.Reference, transformer.Model.Metadata.Scoring);
        var images = MLNetData.Test.Subset(Enumerable.Range(0, 16).ToList());
        var reference = Evaluation.LogLikelihoods(transformer.Circuit, images, ScoringMode.Reference);
        var scored = transformer.Transform(context.Data.LoadFromEnumerable(MLNetData.Digits(MLNetData.Test, 16)));
        CollectionAssert.AreEqual(Floats(reference), MLNetData.Column(scored, "LogLikelihood"));
        if (pathsDiffer && TensorizedCircuit.NativeKernelsUnavailable is null)
            Assert.IsFalse(Evaluation.LogLikelihoods(transformer.Circuit, images, ScoringMode.Fast).SequenceEqual(reference),
                "the fast path rounds differently, so the check above could tell the two apart");
    }

    /// <summary>A model payload whose metadata JSON is <paramref name="edit"/>(the written JSON), checksum recomputed.</summary>
    static byte[] WithMetadata(CircuitModel model, Func<string, string> edit)
    {
        using var buffer = new MemoryStream();
        model.Save(buffer);
        byte[] body = buffer.ToArray()[..^32];
        byte[] start = Encoding.UTF8.GetBytes("{\"MetadataVersion\"");
        int at = body.AsSpan().IndexOf(start);
        Assert.IsGreaterThan(4, at, "the metadata JSON is in the payload");
        int length = BitConverter.ToInt32(body, at - 4);
        byte[] json = Encoding.UTF8.GetBytes(edit(Encoding.UTF8.GetString(body, at, length)));
        byte[] edited = [.. body[..(at - 4)], .. BitConverter.GetBytes(json.Length), .. json, .. body[(at + length)..]];
        return [.. edited, .. SHA256.HashData(edited)];
    }

    [TestMethod]
    public void PayloadsWithoutTheFieldReadAsReferenceAndAnUnknownModeIsRefused()
    {
        using var model = new CircuitModel(new TensorizedCircuit(Tiny(RegionGraphKind.QuadTree, LayerKind.CP, 2, 2, 1, 4), seed: 1));
        CircuitModel Load(byte[] bytes) => CircuitModel.Load(new MemoryStream(bytes), source: "edited payload");

        using (var unchanged = Load(WithMetadata(model, json => json)))
            Assert.AreEqual(ScoringMode.Fast, unchanged.Metadata.Scoring);
        using (var reference = Load(WithMetadata(model, json => json.Replace("\"Scoring\":\"Fast\"", "\"Scoring\":\"Reference\""))))
            Assert.AreEqual(ScoringMode.Reference, reference.Metadata.Scoring);
        // A version-2 file (the field did not exist yet): its scores were the reference's.
        using (var version2 = Load(WithMetadata(model, json => json.Replace("\"MetadataVersion\":3", "\"MetadataVersion\":2").Replace("\"Scoring\":\"Fast\",", ""))))
        {
            Assert.AreEqual(ScoringMode.Reference, version2.Metadata.Scoring);
            Assert.AreEqual(2, version2.Metadata.Version);
        }
        var number = Assert.Throws<InvalidDataException>(() => Load(WithMetadata(model, json => json.Replace("\"Scoring\":\"Fast\"", "\"Scoring\":7"))));
        StringAssert.Contains(number.Message, "Scoring is 7; expected Fast or Reference");
        var word = Assert.Throws<InvalidDataException>(() => Load(WithMetadata(model, json => json.Replace("\"Scoring\":\"Fast\"", "\"Scoring\":\"Fastest\""))));
        StringAssert.Contains(word.Message, "metadata is not valid JSON");
    }

    [TestMethod]
    public void TheOptionReachesTheModelAndTheAnomalyThresholdIsFittedOnTheSameScores()
    {
        var ml = new MLContext(seed: 1);
        var bad = new ProbabilisticCircuitOptions { Scoring = (ScoringMode)5 };
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.ProbabilisticCircuit(bad));
        Assert.AreEqual("Scoring", error.ParamName);
        StringAssert.Contains(error.Message, "Scoring must be Fast or Reference");

        var train = ml.Data.LoadFromEnumerable(MLNetData.Digits(MLNetData.Train, 200));
        foreach (var mode in new[] { ScoringMode.Reference, ScoringMode.Fast })
        {
            var options = new ProbabilisticCircuitAnomalyOptions
            {
                RegionGraph = RegionGraphKind.QuadGraph, Units = 3, MaxEpochs = 1, BatchSize = 64, LearningRate = 0.1,
                ThresholdQuantile = 0.8, AnomalyScore = AnomalyScore.BitsPerDimension, Scoring = mode,
            };
            using var detector = ml.AnomalyDetection.Trainers.ProbabilisticCircuit(options).Fit(train);
            Assert.AreEqual(mode, detector.Model.Metadata.Scoring, "the option is the fitted model's mode");
            // The threshold is the nearest-rank 0.8 quantile of the very scores the detector gives its training rows.
            var scores = MLNetData.Column(detector.Transform(train), "Score").Order().ToArray();
            Assert.AreEqual(scores[159], detector.Threshold, $"{mode}: threshold {detector.Threshold} is not the 160th of 200 scores");
        }
    }
}
