using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Data;
using TorchSharp;
using static Microsoft.ML.Circuits.Tests.MLNet.MLNetData;

namespace Microsoft.ML.Circuits.Tests.MLNet;

[TestClass]
public sealed class ProbabilisticCircuitEstimatorTests
{
    static MLContext ml = null!;
    static ProbabilisticCircuitTransformer fitted = null!;
    static IDataView test = null!;

    [ClassInitialize]
    public static void FitOnce(TestContext _)
    {
        ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(Digits(MLNetData.Train, 512));
        fitted = ml.Transforms.ProbabilisticCircuit(SmallOptions()).Fit(train);
        test = ml.Data.LoadFromEnumerable(Digits(MLNetData.Test, 300));
    }

    [ClassCleanup]
    public static void Cleanup() => fitted.Dispose();

    [TestMethod]
    public void FitAddsLogLikelihoodAndBitsPerDimensionColumnsWithFiniteValues()
    {
        var scored = fitted.Transform(test);
        Assert.AreEqual(NumberDataViewType.Single, scored.Schema["LogLikelihood"].Type);
        Assert.AreEqual(NumberDataViewType.Single, scored.Schema["BitsPerDimension"].Type);
        var ll = Column(scored, "LogLikelihood");
        var bpd = Column(scored, "BitsPerDimension");
        Assert.HasCount(300, ll);
        Assert.IsTrue(ll.All(float.IsFinite) && ll.All(v => v < 0));
        for (int i = 0; i < ll.Length; i++)
            Assert.AreEqual(-ll[i] / (Math.Log(2) * 784), bpd[i], 1e-5);
        Assert.IsNotNull(fitted.TrainingReport);
        Assert.AreEqual(2, fitted.TrainingReport.Epochs);
        Assert.AreEqual(RegionGraphKind.QuadTree, fitted.Description.RegionGraph);
        Assert.AreEqual(fitted.Circuit.ParameterCount.Total, fitted.ParameterCount.Total);
        // The estimator's schema promise matches the transformer's output.
        var shape = ml.Transforms.ProbabilisticCircuit(SmallOptions()).GetOutputSchema(Shape(test.Schema));
        Assert.AreEqual(NumberDataViewType.Single, shape.Single(c => c.Name == "LogLikelihood").ItemType);
    }

    [TestMethod]
    public void TransformerLogLikelihoodEqualsTheCircuitsOnTheSamePixels()
    {
        var ll = Column(fitted.Transform(test), "LogLikelihood");
        using var x = MLNetData.Test.Batch(0, 300);
        using var _ = torch.no_grad();
        using var expected = fitted.Circuit.LogLikelihood(x);
        var values = expected.data<float>().ToArray();
        for (int i = 0; i < values.Length; i++)
            Assert.AreEqual(values[i], ll[i], 1e-3, $"row {i}");
    }

    [TestMethod]
    public void ScoringInBatchesMatchesScoringRowByRow()
    {
        var batched = Column(fitted.Transform(test), "LogLikelihood");
        var engine = ml.Model.CreatePredictionEngine<Digit, Scores>(fitted);
        var digits = Digits(MLNetData.Test, 40);
        for (int i = 0; i < digits.Count; i++)
            Assert.AreEqual(batched[i], engine.Predict(digits[i]).LogLikelihood, 1e-3, $"row {i}");
    }

    [TestMethod]
    public void ASavedModelLoadsInAFreshProcessAndScoresIdentically()
    {
        string folder = TempFolder();
        string zip = Path.Combine(folder, "model.zip");
        ml.Model.Save(fitted, test.Schema, zip);
        string images = WriteTestImages(folder, 50);

        var lines = RunModelLoadCheck(zip, images, 50);
        Assert.AreEqual("columns LogLikelihood:Single BitsPerDimension:Single", lines[0]);
        var transformed = lines.Where(l => l.StartsWith("transform ")).Select(l => l.Split(' ')).ToList();
        var engine = lines.Where(l => l.StartsWith("engine ")).Select(l => l.Split(' ')).ToList();
        Assert.HasCount(50, transformed);
        Assert.HasCount(50, engine);
        var scored = fitted.Transform(ml.Data.LoadFromEnumerable(FlatDigits(50)));
        var ll = Column(scored, "LogLikelihood");
        var bpd = Column(scored, "BitsPerDimension");
        for (int i = 0; i < 50; i++)
        {
            Assert.AreEqual(ll[i], float.Parse(transformed[i][1], CultureInfo.InvariantCulture), $"row {i}: log-likelihood differs after reloading");
            Assert.AreEqual(bpd[i], float.Parse(transformed[i][2], CultureInfo.InvariantCulture), $"row {i}: bits per dimension differ after reloading");
            Assert.AreEqual(ll[i], float.Parse(engine[i][1], CultureInfo.InvariantCulture), 1e-3, $"row {i}: PredictionEngine");
        }
    }

    internal static List<string> RunModelLoadCheck(string zip, string images, int count, bool leftHalfMissing = false, float divisor = 1f)
    {
        string checker = typeof(ProbabilisticCircuitEstimatorTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "ModelLoadCheck").Value!;
        Assert.IsTrue(File.Exists(checker), $"{checker} was not built");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { checker, zip, images, count.ToString(CultureInfo.InvariantCulture) }) start.ArgumentList.Add(a);
        if (leftHalfMissing) start.ArgumentList.Add("--left-half-missing");
        else if (divisor != 1f) start.ArgumentList.Add(divisor.ToString("R", CultureInfo.InvariantCulture));
        using var process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd();
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.AreEqual(0, process.ExitCode, $"the fresh process failed: {error}");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
    }

    [TestMethod]
    public void PredictionEngineWorksOnAModelLoadedFromAZip()
    {
        string zip = Path.Combine(TempFolder(), "model.zip");
        ml.Model.Save(fitted, test.Schema, zip);
        var loaded = ml.Model.Load(zip, out var schema);
        Assert.AreEqual(test.Schema["Pixels"].Type, schema["Pixels"].Type);
        var engine = ml.Model.CreatePredictionEngine<Digit, Scores>(loaded);
        var digit = Digits(MLNetData.Test, 1)[0];
        var direct = ml.Model.CreatePredictionEngine<Digit, Scores>(fitted).Predict(digit);
        var viaZip = engine.Predict(digit);
        Assert.AreEqual(direct.LogLikelihood, viaZip.LogLikelihood);
        Assert.AreEqual(direct.BitsPerDimension, viaZip.BitsPerDimension);
    }

    [TestMethod]
    public void ByteColumnsAndZeroToOneColumnsScoreLikeZeroTo255Columns()
    {
        // The same 20 rows in every column type, so every transform scores the same batch (libtorch's matrix products
        // may round differently for another batch size).
        var expected = Column(fitted.Transform(ml.Data.LoadFromEnumerable(Digits(MLNetData.Test, 20))), "LogLikelihood");
        var bytes = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 20).Select(i => new ByteDigit { Pixels = MLNetData.Test.Image(i).ToArray() }));
        CollectionAssert.AreEqual(expected, Column(fitted.Transform(bytes), "LogLikelihood"));
        var scaled = ml.Data.LoadFromEnumerable(Digits(MLNetData.Test, 20, 1 / 255f));
        using var rescaled = ProbabilisticCircuitTransformer.FromModel(ml, CircuitModel.Load(Payload(fitted)), pixelScale: 255f);
        CollectionAssert.AreEqual(expected, Column(rescaled.Transform(scaled), "LogLikelihood"));
    }

    static MemoryStream Payload(CircuitTransformerBase transformer)
    {
        var stream = new MemoryStream();
        new CircuitModel(transformer.Circuit, new ModelMetadata()).Save(stream);
        stream.Position = 0;
        return stream;
    }

    [TestMethod]
    public void TheConvenienceOverloadUsesTheDocumentedNames()
    {
        var estimator = ml.Transforms.ProbabilisticCircuit("Density", "Pixels", RegionGraphKind.QuadTree, LayerKind.CP, units: 2, maxEpochs: 1);
        var shape = estimator.GetOutputSchema(Shape(test.Schema));
        Assert.IsTrue(shape.Any(c => c.Name == "Density"));
        Assert.IsTrue(shape.Any(c => c.Name == "BitsPerDimension"));
    }

    /// <summary>ML.NET's own (internal) SchemaShape.Create, as estimator chains call it.</summary>
    internal static SchemaShape Shape(DataViewSchema schema) =>
        (SchemaShape)typeof(SchemaShape).GetMethod("Create", BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.Static, [typeof(DataViewSchema)])!
            .Invoke(null, [schema])!;
}
