using Microsoft.ML.Circuits.Onnx;
using Microsoft.ML.Data;
using Microsoft.ML.Circuits.Tests.MLNet;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using static Microsoft.ML.Circuits.Tests.MLNet.MLNetData;

namespace Microsoft.ML.Circuits.Tests.Onnx;

/// <summary>
/// The fitted and reloaded ML.NET transformers export models whose outputs equal the transformers' columns: density
/// (log-likelihood, bits per dimension) and anomaly detectors (score and predicted label, with their threshold), read
/// by ONNX Runtime directly and by ML.NET's <c>ApplyOnnxModel</c>.
/// </summary>
[TestClass]
public sealed class TransformerOnnxExportTests
{
    const double Tolerance = 1e-4;

    static float[] Flatten(IEnumerable<Digit> digits) => digits.SelectMany(d => d.Pixels).ToArray();

    [TestMethod]
    public void AReloadedDensityTransformerExportsItsColumnsWithItsPixelScale()
    {
        var ml = new MLContext(seed: 1);
        var options = SmallOptions();
        options.PixelScale = 255;
        var train = ml.Data.LoadFromEnumerable(Digits(Train, 256, scale: 1f / 255));
        using var fitted = ml.Transforms.ProbabilisticCircuit(options).Fit(train);
        string zip = Path.Combine(TempFolder(), "density.zip");
        ml.Model.Save(fitted, train.Schema, zip);
        using var loaded = (ProbabilisticCircuitTransformer)new MLContext().Model.Load(zip, out _);

        var rows = Digits(Test, 48, scale: 1f / 255);
        var scored = loaded.Transform(ml.Data.LoadFromEnumerable(rows));
        var expectedLl = Column(scored, "LogLikelihood");
        var expectedBpd = Column(scored, "BitsPerDimension");

        string path = Path.Combine(TempFolder(), "density.onnx");
        loaded.ExportToOnnx(path);
        using var session = new InferenceSession(path);
        CollectionAssert.AreEqual(new long[] { -1, 784 }, session.InputMetadata["pixels"].Dimensions.Select(d => (long)d).ToArray());
        var (ll, bpd) = OnnxExportTests.Run(session, Flatten(rows), [rows.Count, 784]);
        OnnxExportTests.AssertClose(expectedLl.Select(v => (double)v).ToList(), ll, "density transformer, log-likelihood");
        OnnxExportTests.AssertClose(expectedBpd.Select(v => (double)v).ToList(), bpd, "density transformer, bits per dimension");
    }

    [TestMethod]
    public void ATransformerThatAllowsMissingPixelsExportsMarginals()
    {
        var ml = new MLContext(seed: 5);
        using var circuit = new TensorizedCircuit(new CircuitDescription { RegionGraph = RegionGraphKind.QuadGraph, Layer = LayerKind.CP, Units = 2 }, seed: 5);
        using var transformer = ProbabilisticCircuitTransformer.FromModel(ml, new CircuitModel(circuit), allowMissingPixels: true);
        var rows = Digits(Test, 8);
        for (int i = 0; i < rows.Count; i++)
            for (int d = 0; d < 784; d++)
                if ((d / 28) < i * 3) rows[i].Pixels[d] = float.NaN;   // the top 3·i rows of image i are missing
        var scored = transformer.Transform(ml.Data.LoadFromEnumerable(rows));
        var expectedLl = Column(scored, "LogLikelihood");
        var expectedBpd = Column(scored, "BitsPerDimension");

        using var stream = new MemoryStream();
        transformer.ExportToOnnx(stream);
        using var session = new InferenceSession(stream.ToArray());
        var (ll, bpd) = OnnxExportTests.Run(session, Flatten(rows), [rows.Count, 784]);
        OnnxExportTests.AssertClose(expectedLl.Select(v => (double)v).ToList(), ll, "marginal log-likelihood");
        OnnxExportTests.AssertClose(expectedBpd.Select(v => (double)v).ToList(), bpd, "bits per observed dimension");
    }

    [TestMethod]
    [DataRow(AnomalyScore.BitsPerDimension)]
    [DataRow(AnomalyScore.LikelihoodRatio)]
    public void AnAnomalyDetectorExportsItsScoreAndPredictedLabel(AnomalyScore score)
    {
        var ml = new MLContext(seed: 2);
        var train = ml.Data.LoadFromEnumerable(Digits(Train, 256));
        var options = new ProbabilisticCircuitAnomalyOptions
        {
            RegionGraph = RegionGraphKind.QuadTree, Units = 2, MaxEpochs = 2, BatchSize = 64, LearningRate = 0.1, AnomalyScore = score,
        };
        using var detector = ml.AnomalyDetection.Trainers.ProbabilisticCircuit(options).Fit(train);
        var rows = Digits(Test, 64);
        var scored = detector.Transform(ml.Data.LoadFromEnumerable(rows));
        var expectedScore = Column(scored, "Score");
        var expectedLabel = scored.GetColumn<bool>("PredictedLabel").ToArray();

        using var stream = new MemoryStream();
        detector.ExportToOnnx(stream, OnnxPixelType.Byte);
        using var session = new InferenceSession(stream.ToArray());
        Assert.AreEqual(detector.Threshold.ToString("R", System.Globalization.CultureInfo.InvariantCulture), session.ModelMetadata.CustomMetadataMap["anomaly_threshold"]);
        var pixels = rows.SelectMany(r => r.Pixels.Select(v => (byte)v)).ToArray();
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("pixels", new DenseTensor<byte>(pixels, [rows.Count, 784]))]);
        var onnxScore = results.First(r => r.Name == "score").AsEnumerable<float>().ToArray();
        var onnxLabel = results.First(r => r.Name == "predicted_label").AsEnumerable<bool>().ToArray();
        for (int i = 0; i < rows.Count; i++)
        {
            Assert.AreEqual(expectedScore[i], onnxScore[i], Tolerance * Math.Max(1, Math.Abs(expectedScore[i])), $"score of row {i}");
            if (Math.Abs(expectedScore[i] - detector.Threshold) > 1e-3)
                Assert.AreEqual(expectedLabel[i], onnxLabel[i], $"predicted label of row {i} (score {expectedScore[i]}, threshold {detector.Threshold})");
        }
        Assert.IsTrue(onnxLabel.Contains(true) || expectedLabel.Contains(true) || onnxLabel.SequenceEqual(expectedLabel));
    }

    [TestMethod]
    [DataRow(AnomalyScore.InputComplexity)]
    [DataRow(AnomalyScore.LocalComplexity)]
    public void TheComplexityScoresAreRefusedWithTheReason(AnomalyScore score)
    {
        var ml = new MLContext(seed: 3);
        var train = ml.Data.LoadFromEnumerable(Digits(Train, 64));
        using var detector = ml.AnomalyDetection.Trainers.ProbabilisticCircuit(new ProbabilisticCircuitAnomalyOptions
        {
            RegionGraph = RegionGraphKind.QuadTree, Units = 2, MaxEpochs = 1, BatchSize = 32, AnomalyScore = score,
        }).Fit(train);
        string path = Path.Combine(TempFolder(), "complexity.onnx");
        var error = Assert.ThrowsExactly<NotSupportedException>(() => detector.ExportToOnnx(path));
        StringAssert.Contains(error.Message, score.ToString());
        Assert.IsFalse(File.Exists(path), "nothing is written when the export is refused");
    }

    [TestMethod]
    public void AnInpaintingTransformerIsRefusedWithTheReason()
    {
        var ml = new MLContext(seed: 6);
        using var inpainting = CircuitInpaintingTransformer.FromModel(ml,
            new CircuitModel(new TensorizedCircuit(new CircuitDescription { ImageHeight = 4, ImageWidth = 4, Units = 2 })));
        var error = Assert.ThrowsExactly<NotSupportedException>(() => inpainting.ExportToOnnx(new MemoryStream()));
        StringAssert.Contains(error.Message, "top-down");
    }

    [TestMethod]
    public void MLNetScoresTheExportedModelWithApplyOnnxModel()
    {
        var ml = new MLContext(seed: 4);
        var train = ml.Data.LoadFromEnumerable(Digits(Train, 128));
        using var fitted = ml.Transforms.ProbabilisticCircuit(SmallOptions()).Fit(train);
        string path = Path.Combine(TempFolder(), "density.onnx");
        fitted.ExportToOnnx(path);

        var rows = FlatDigits(16);
        var data = ml.Data.LoadFromEnumerable(rows);
        var expected = Column(fitted.Transform(data), "LogLikelihood");
        var onnx = ml.Transforms.ApplyOnnxModel(outputColumnNames: ["log_likelihood"], inputColumnNames: ["pixels"], modelFile: path);
        var renamed = ml.Transforms.CopyColumns("pixels", "Pixels").Append(onnx);
        var scored = renamed.Fit(data).Transform(data);
        var actual = scored.GetColumn<float[]>("log_likelihood").Select(v => v.Single()).ToArray();
        OnnxExportTests.AssertClose(expected.Select(v => (double)v).ToList(), actual, "ApplyOnnxModel");
    }
}
