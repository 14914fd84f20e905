using Microsoft.ML.Data;
using SkiaSharp;
using static Microsoft.ML.Circuits.Tests.MLNet.MLNetData;

namespace Microsoft.ML.Circuits.Tests.MLNet;

[TestClass]
public sealed class PipelineTests
{
    sealed class ImageFile
    {
        public string ImagePath { get; set; } = "";
    }

    /// <summary>Writes MNIST digits as 56×56 RGB PNGs (white digit on a coloured background is avoided: gray levels only).</summary>
    static List<ImageFile> WritePngs(string folder, int count)
    {
        var files = new List<ImageFile>();
        for (int i = 0; i < count; i++)
        {
            var digit = MLNetData.Train.Image(i);
            using var bitmap = new SKBitmap(56, 56);
            for (int y = 0; y < 56; y++)
                for (int x = 0; x < 56; x++)
                {
                    byte v = digit[(y / 2) * 28 + x / 2];
                    bitmap.SetPixel(x, y, new SKColor(v, v, v));
                }
            string name = $"digit{i:000}.png";
            using (var image = SKImage.FromBitmap(bitmap))
            using (var png = image.Encode(SKEncodedImageFormat.Png, 100))
                File.WriteAllBytes(Path.Combine(folder, name), png.ToArray());
            files.Add(new ImageFile { ImagePath = name });
        }
        return files;
    }

    [TestMethod]
    public void TheImageAnalyticsChainFitsSavesReloadsAndScoresPngs()
    {
        string folder = TempFolder();
        var ml = new MLContext(seed: 3);
        var data = ml.Data.LoadFromEnumerable(WritePngs(folder, 200));
        var pipeline = ml.Transforms.LoadImages("Image", folder, "ImagePath")
            .Append(ml.Transforms.ResizeImages("Image", 28, 28))
            .Append(ml.Transforms.ConvertToGrayscale("Image"))
            .Append(ml.Transforms.ExtractPixels("Pixels", "Image", colorsToExtract: Microsoft.ML.Transforms.Image.ImagePixelExtractingEstimator.ColorBits.Red, outputAsFloatArray: true))
            .Append(ml.Transforms.ProbabilisticCircuit(SmallOptions()));
        var model = pipeline.Fit(data);
        var scored = model.Transform(data);
        Assert.AreEqual(new VectorDataViewType(NumberDataViewType.Single, 1, 28, 28), scored.Schema["Pixels"].Type);
        var ll = Column(scored, "LogLikelihood");
        Assert.HasCount(200, ll);
        Assert.IsTrue(ll.All(float.IsFinite));

        string zip = Path.Combine(folder, "pipeline.zip");
        ml.Model.Save(model, data.Schema, zip);
        var reloaded = new MLContext(seed: 9).Model.Load(zip, out _);
        CollectionAssert.AreEqual(ll, Column(reloaded.Transform(data), "LogLikelihood"));
    }

    [TestMethod]
    public void TheAnomalyDetectorsOutputPassesAnomalyDetectionEvaluate()
    {
        var ml = new MLContext(seed: 5);
        // Fit on ones only; score ones (normal) against every other digit (anomalous).
        var ones = MLNetData.Train.WithLabel(1);
        var train = ml.Data.LoadFromEnumerable(Digits(ones, 512));
        // Ones are the simplest digits: every other digit is both less likely and more complex, the easy direction in
        // which raw bits per dimension separate best (AnomalyScoreTests pins the default score on the hard direction).
        var options = new ProbabilisticCircuitAnomalyOptions
        {
            RegionGraph = RegionGraphKind.QuadTree, Units = 2, MaxEpochs = 3, BatchSize = 64, LearningRate = 0.1, AnomalyScore = AnomalyScore.BitsPerDimension,
        };
        using var detector = ml.AnomalyDetection.Trainers.ProbabilisticCircuit(options).Fit(train);
        var test = ml.Data.LoadFromEnumerable(Digits(MLNetData.Test, 600, label: digit => digit != 1));
        var scored = detector.Transform(test);
        Assert.AreEqual(BooleanDataViewType.Instance, scored.Schema["PredictedLabel"].Type);
        var metrics = ml.AnomalyDetection.Evaluate(scored);
        Assert.IsGreaterThan(0.9, metrics.AreaUnderRocCurve, $"AUC {metrics.AreaUnderRocCurve}");
        // About 5 % of training-like rows lie above the 0.95 quantile threshold.
        var trainScores = Column(detector.Transform(train), "Score");
        double flagged = trainScores.Count(s => s > detector.Threshold) / (double)trainScores.Length;
        Assert.IsLessThanOrEqualTo(0.06, flagged);

        string zip = Path.Combine(TempFolder(), "detector.zip");
        ml.Model.Save(detector, test.Schema, zip);
        var reloaded = ml.Model.Load(zip, out _);
        CollectionAssert.AreEqual(Column(scored, "Score"), Column(reloaded.Transform(test), "Score"));
        Assert.AreEqual(detector.Threshold, ((CircuitAnomalyDetectionTransformer)reloaded).Threshold);
    }
}
