using System.Globalization;
using Microsoft.ML.Data;
using static Microsoft.ML.Circuits.Tests.MLNet.MLNetData;

namespace Microsoft.ML.Circuits.Tests.MLNet;

/// <summary>
/// Saved ML.NET options survive a zip round trip in a fresh process, and the anomaly threshold is exactly the
/// documented quantile (nearest rank) of the training rows' scores.
/// </summary>
[TestClass]
public sealed class OptionRoundTripTests
{
    [TestMethod]
    public void PixelScaleAndTheAnomalyThresholdSurviveAZipRoundTripInAFreshProcess()
    {
        var ml = new MLContext(seed: 1);
        const float Scale = 255f;
        var train = ml.Data.LoadFromEnumerable(Digits(MLNetData.Train, 200, scale: 1 / Scale));
        var options = new ProbabilisticCircuitAnomalyOptions
        {
            RegionGraph = RegionGraphKind.QuadTree, Units = 2, MaxEpochs = 1, BatchSize = 64, LearningRate = 0.1,
            PixelScale = Scale, ThresholdQuantile = 0.8, AnomalyScore = AnomalyScore.BitsPerDimension,
        };
        using var detector = ml.AnomalyDetection.Trainers.ProbabilisticCircuit(options).Fit(train);

        // The threshold is the nearest-rank 0.8 quantile of the training rows' scores: the ⌈0.8·200⌉ = 160th smallest.
        var trainScores = Column(detector.Transform(train), "Score").Order().ToArray();
        Assert.AreEqual(trainScores[159], detector.Threshold, $"threshold {detector.Threshold} is not the 160th of 200 scores");

        string folder = TempFolder();
        string zip = Path.Combine(folder, "anomaly.zip");
        CircuitModelFile.Save(ml, detector, zip);
        string images = WriteTestImages(folder, 40);
        // The fresh process feeds 0..1 pixels: only the saved PixelScale 255 makes them valid, and the same scores.
        var lines = RunModelLoadCheckLines(zip, images, 40, Scale);
        Assert.AreEqual("columns Score:Single PredictedLabel:Boolean", lines[0]);
        var reloaded = lines.Where(l => l.StartsWith("transform ", StringComparison.Ordinal)).Select(l => l.Split(' ')).ToList();
        Assert.HasCount(40, reloaded);
        var scored = detector.Transform(ml.Data.LoadFromEnumerable(Digits(MLNetData.Test, 40, scale: 1 / Scale)));
        var scores = Column(scored, "Score");
        var labels = scored.GetColumn<bool>("PredictedLabel").ToArray();
        Assert.IsTrue(labels.Any(l => l) && labels.Any(l => !l), "the rows do not straddle the threshold; the label check would be empty");
        for (int i = 0; i < 40; i++)
        {
            Assert.AreEqual(scores[i], float.Parse(reloaded[i][1], CultureInfo.InvariantCulture), $"row {i}: score differs in the fresh process");
            Assert.AreEqual(labels[i] ? "true" : "false", reloaded[i][2], $"row {i}: label differs in the fresh process (threshold lost?)");
        }
    }

    static List<string> RunModelLoadCheckLines(string zip, string images, int count, float divisor) =>
        ProbabilisticCircuitEstimatorTests.RunModelLoadCheck(zip, images, count, divisor: divisor);
}
