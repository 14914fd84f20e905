using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Circuits.Training;
using Microsoft.ML.Data;
using static Microsoft.ML.Circuits.Tests.MLNet.MLNetData;

namespace Microsoft.ML.Circuits.Tests.MLNet;

[TestClass]
public sealed class AnomalyScoreTests
{
    static ProbabilisticCircuitAnomalyOptions Tiny(AnomalyScore score, float pixelScale = 1f) => new()
    {
        RegionGraph = RegionGraphKind.QuadTree, Units = 2, MaxEpochs = 1, BatchSize = 64, LearningRate = 0.1, AnomalyScore = score, PixelScale = pixelScale,
    };

    [TestMethod]
    public void TheDefaultScoreIsChosenAfterTrainingAndTheCodecIsTheMeasuredOne()
    {
        var options = new ProbabilisticCircuitAnomalyOptions();
        Assert.IsNull(options.AnomalyScore);
        // LocalComplexity once the circuit codes its training images clearly better than the local model.
        Assert.AreEqual(AnomalyScore.LocalComplexity, AnomalyScores.Choose(3.56, 3.92));
        Assert.AreEqual(AnomalyScore.LocalComplexity, AnomalyScores.Choose(3.80, 3.80 + AnomalyScores.LocalComplexityMargin));
        Assert.AreEqual(AnomalyScore.InputComplexity, AnomalyScores.Choose(3.86, 3.93));
        Assert.AreEqual(AnomalyScore.InputComplexity, AnomalyScores.Choose(4.10, 3.93));
        Assert.AreEqual(AnomalyScores.DefaultCodec, options.ComplexityCodec);
    }

    [TestMethod]
    [DataRow(AnomalyScore.InputComplexity)]
    [DataRow(AnomalyScore.LocalComplexity)]
    [DataRow(AnomalyScore.LikelihoodRatio)]
    public void TheCorrectionIsComputedFromThePixelsTheModelScores(AnomalyScore score)
    {
        // The same images as 0..255 floats and as 0..1 floats (PixelScale 255): the circuit sees the same bytes, so the
        // correction term (the codec's size or the background's likelihood), the score and the threshold must be the same.
        var ml = new MLContext(seed: 3);
        var rows255 = Digits(Train, 128);
        var rows01 = Digits(Train, 128, scale: 1f / 255);
        using var on255 = ml.AnomalyDetection.Trainers.ProbabilisticCircuit(Tiny(score)).Fit(ml.Data.LoadFromEnumerable(rows255));
        using var on01 = ml.AnomalyDetection.Trainers.ProbabilisticCircuit(Tiny(score, pixelScale: 255)).Fit(ml.Data.LoadFromEnumerable(rows01));
        var test255 = ml.Data.LoadFromEnumerable(Digits(Test, 64));
        var test01 = ml.Data.LoadFromEnumerable(Digits(Test, 64, scale: 1f / 255));
        var scores255 = Column(on255.Transform(test255), "Score");
        var scores01 = Column(on01.Transform(test01), "Score");
        CollectionAssert.AreEqual(scores255, scores01);
        Assert.AreEqual(on255.Threshold, on01.Threshold);

        // And it is the library's formula on those bytes: bits per dimension minus the correction of the quantised
        // image — L(x)/D for the codec, −log₂ p_bg(x)/D for a background fitted on the same training bytes, the
        // shorter of the codec's and the local model's code for LocalComplexity.
        var trainImages = Train.Subset(Enumerable.Range(0, 128).ToArray());
        var images = Test.Subset(Enumerable.Range(0, 64).ToArray());
        var lls = Evaluation.LogLikelihoods(on01.Circuit, images);
        BackgroundModel? background = score switch
        {
            AnomalyScore.LocalComplexity => LocalPixelModel.Fit(trainImages),
            AnomalyScore.LikelihoodRatio => PixelBackgroundModel.Fit(trainImages),
            _ => null,
        };
        for (int i = 0; i < 64; i++)
        {
            double codec = AnomalyScores.ComplexityBitsPerDimension(images.Image(i), 28, 28, 1);
            double correction = score switch
            {
                AnomalyScore.InputComplexity => codec,
                AnomalyScore.LocalComplexity => Math.Min(codec, -background!.LogLikelihood(images.Image(i)) / (Math.Log(2) * 784)),
                _ => -background!.LogLikelihood(images.Image(i)) / (Math.Log(2) * 784),
            };
            Assert.AreEqual(Evaluation.BitsPerDimension(lls[i], 784) - correction, scores01[i], 1e-4, $"image {i}");
        }
        // The correction is not zero: the score differs from plain bits per dimension.
        Assert.IsGreaterThan(1.0, Math.Abs(Evaluation.BitsPerDimension(lls[0], 784) - scores01[0]));
    }

    [TestMethod]
    public void EveryScoreRoundTripsThroughModelSaveAndLoad()
    {
        var ml = new MLContext(seed: 4);
        var train = ml.Data.LoadFromEnumerable(Digits(Train, 128));
        var test = ml.Data.LoadFromEnumerable(Digits(Test, 32));
        foreach (var score in Enum.GetValues<AnomalyScore>())
        {
            var options = Tiny(score);
            options.ComplexityCodec = ComplexityCodec.Brotli;
            using var detector = ml.AnomalyDetection.Trainers.ProbabilisticCircuit(options).Fit(train);
            string zip = Path.Combine(TempFolder(), $"{score}.zip");
            ml.Model.Save(detector, test.Schema, zip);
            var reloaded = (CircuitAnomalyDetectionTransformer)new MLContext(seed: 8).Model.Load(zip, out _);
            using (reloaded)
            {
                Assert.AreEqual(score, reloaded.AnomalyScore);
                Assert.AreEqual(ComplexityCodec.Brotli, reloaded.ComplexityCodec);
                Assert.AreEqual(detector.Threshold, reloaded.Threshold);
                Assert.AreEqual(score == AnomalyScore.LikelihoodRatio, reloaded.Background is PixelBackgroundModel);
                Assert.AreEqual(score == AnomalyScore.LocalComplexity, reloaded.Background is LocalPixelModel);
                CollectionAssert.AreEqual(Column(detector.Transform(test), "Score"), Column(reloaded.Transform(test), "Score"), $"{score}");
            }
        }
    }

    [TestMethod]
    public void AZipWrittenBeforeScoresExistedLoadsAndScoresWithBitsPerDimension() =>
        // Fixtures/anomaly-v1.zip was written by the library at commit e52b5f5 (format 1.1, no score field): a QT K=2
        // detector on 4×4 images. Its threshold and the scores of the four rows below are what that code printed.
        AssertFixture("anomaly-v1.zip", AnomalyScore.BitsPerDimension, OldZip.Threshold, OldZip.Scores);

    [TestMethod]
    public void AZipWrittenWhenInputComplexityWasTheDefaultKeepsItsScore() =>
        // Fixtures/anomaly-v2.zip was written at commit 4d4a27f (format 0x00010002, default score InputComplexity with
        // Deflate): the same QT K=2 detector on 4×4 images as anomaly-v1. Threshold and scores are what that code printed.
        AssertFixture("anomaly-v2.zip", AnomalyScore.InputComplexity, -0.31254956f, [-1.0817468f, -0.436472f, -0.7477179f, -0.43706706f]);

    /// <summary>A fixture zip loads with its score (and the default codec), no background, and reproduces its printed threshold and scores.</summary>
    static void AssertFixture(string name, AnomalyScore score, float threshold, float[] scores)
    {
        string zip = Path.Combine(AppContext.BaseDirectory, "MLNet", "Fixtures", name);
        var ml = new MLContext(seed: 1);
        using var loaded = (CircuitAnomalyDetectionTransformer)ml.Model.Load(zip, out _);
        Assert.AreEqual(score, loaded.AnomalyScore);
        Assert.AreEqual(ComplexityCodec.Deflate, loaded.ComplexityCodec);
        Assert.IsNull(loaded.Background);
        Assert.AreEqual(threshold, loaded.Threshold);
        var rows = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 4).Select(OldZip.Row));
        CollectionAssert.AreEqual(scores, Column(loaded.Transform(rows), "Score"));
    }

    [TestMethod]
    public void TheTrainerChoosesTheScoreFromTheTrainingImagesCodeLengths()
    {
        var ml = new MLContext(seed: 6);
        var rows = Digits(Train, 256);
        using var detector = ml.AnomalyDetection.Trainers.ProbabilisticCircuit(new ProbabilisticCircuitAnomalyOptions
        {
            RegionGraph = RegionGraphKind.QuadTree, Units = 2, MaxEpochs = 1, BatchSize = 64, LearningRate = 0.1,
        }).Fit(ml.Data.LoadFromEnumerable(rows));
        var images = Train.Subset(Enumerable.Range(0, 256).ToArray());
        var local = LocalPixelModel.Fit(images);
        double circuit = Evaluation.LogLikelihoods(detector.Circuit, images).Average(ll => Evaluation.BitsPerDimension(ll, 784));
        double localBits = Enumerable.Range(0, 256).Average(i => local.BitsPerDimension(images.Image(i)));
        var expected = AnomalyScores.Choose(circuit, localBits);
        Assert.AreEqual(expected, detector.AnomalyScore, $"circuit {circuit:F3} bits per dimension, local model {localBits:F3}");
        Assert.AreEqual(expected == AnomalyScore.LocalComplexity, detector.Background is LocalPixelModel);
        // A K=2 circuit after one epoch has learned little beyond local statistics.
        Assert.AreEqual(AnomalyScore.InputComplexity, detector.AnomalyScore);
    }

    [TestMethod]
    public void TheDefaultScoreSeparatesSimpleOutliersThatRawBitsRankAsNormal()
    {
        // Fitted on zeros, asked to flag ones: a one has far fewer ink pixels than a zero, so the circuit gives it a
        // higher likelihood (raw bits per dimension rank ones as *more* normal, AUROC < 0.5: the failure of
        // likelihood-based detectors), while the complexity-corrected default score flags them.
        var ml = new MLContext(seed: 5);
        var zeros = Train.WithLabel(0);
        var train = ml.Data.LoadFromEnumerable(Digits(zeros, 512));
        var normalAndOnes = Test.Subset(Enumerable.Range(0, Test.Count).Where(i => Test.Label(i) is 0 or 1).ToArray());
        var test = ml.Data.LoadFromEnumerable(Digits(normalAndOnes, normalAndOnes.Count, label: digit => digit == 1));
        var options = new ProbabilisticCircuitAnomalyOptions { RegionGraph = RegionGraphKind.QuadTree, Units = 2, MaxEpochs = 3, BatchSize = 64, LearningRate = 0.1 };
        using var detector = ml.AnomalyDetection.Trainers.ProbabilisticCircuit(options).Fit(train);
        double defaultAuc = ml.AnomalyDetection.Evaluate(detector.Transform(test)).AreaUnderRocCurve;

        // Raw bits per dimension of the same circuit, through the same evaluator.
        var bits = AnomalyScores.FromLogLikelihoods(Evaluation.LogLikelihoods(detector.Circuit, normalAndOnes), normalAndOnes, AnomalyScore.BitsPerDimension);
        var bitsScored = ml.Data.LoadFromEnumerable(bits.Select((b, i) => new Scored
        {
            Label = normalAndOnes.Label(i) == 1 ? 1f : 0f, Score = (float)b, PredictedLabel = b > detector.Threshold,
        }));
        double bitsAuc = ml.AnomalyDetection.Evaluate(bitsScored).AreaUnderRocCurve;
        Assert.IsGreaterThan(0.9, defaultAuc, $"default score AUROC {defaultAuc}");
        Assert.IsLessThan(0.5, bitsAuc, $"bits-per-dimension AUROC {bitsAuc}");
        Console.WriteLine($"AUROC: default {defaultAuc:F4}, bits per dimension {bitsAuc:F4}");
    }

    sealed class Scored
    {
        public float Label { get; set; }
        public float Score { get; set; }
        public bool PredictedLabel { get; set; }
    }

    [TestMethod]
    public void BadScoreOptionsAreRejectedNamingTheOption()
    {
        var ml = new MLContext();
        Assert.AreEqual("AnomalyScore", Assert.Throws<ArgumentException>(() =>
            ml.AnomalyDetection.Trainers.ProbabilisticCircuit(new ProbabilisticCircuitAnomalyOptions { AnomalyScore = (AnomalyScore)7 })).ParamName);
        Assert.AreEqual("ComplexityCodec", Assert.Throws<ArgumentException>(() =>
            ml.AnomalyDetection.Trainers.ProbabilisticCircuit(new ProbabilisticCircuitAnomalyOptions { ComplexityCodec = (ComplexityCodec)9 })).ParamName);
        Assert.AreEqual("BackgroundMutationRate", Assert.Throws<ArgumentException>(() =>
            ml.AnomalyDetection.Trainers.ProbabilisticCircuit(new ProbabilisticCircuitAnomalyOptions { BackgroundMutationRate = 0 })).ParamName);
        var images = new ImageDataset(2, 2, 1, new byte[4]);
        Assert.Throws<ArgumentException>(() => AnomalyScores.FromLogLikelihoods([0.0], images, AnomalyScore.LikelihoodRatio));
        Assert.Throws<ArgumentException>(() => AnomalyScores.FromLogLikelihoods([0.0], images, AnomalyScore.LocalComplexity));
        // Each likelihood ratio needs its own kind of background, and one of the images' shape.
        var wrongKind = Assert.Throws<ArgumentException>(() =>
            AnomalyScores.FromLogLikelihoods([0.0], images, AnomalyScore.LocalComplexity, background: PixelBackgroundModel.Fit(images)));
        StringAssert.Contains(wrongKind.Message, nameof(LocalPixelModel));
        var wrongShape = Assert.Throws<ArgumentException>(() => AnomalyScores.FromLogLikelihoods([0.0], images, AnomalyScore.LocalComplexity,
            background: LocalPixelModel.Fit(new ImageDataset(3, 3, 1, new byte[9]))));
        StringAssert.Contains(wrongShape.Message, "3×3×1");
    }

    [TestMethod]
    public void EveryCodecMeasuresSimpleImagesAsSmallerThanNoise()
    {
        var constant = new byte[784];
        var noise = new byte[784];
        new Random(1).NextBytes(noise);
        foreach (var codec in Enum.GetValues<ComplexityCodec>())
        {
            double simple = AnomalyScores.ComplexityBitsPerDimension(constant, 28, 28, 1, codec);
            double complex = AnomalyScores.ComplexityBitsPerDimension(noise, 28, 28, 1, codec);
            Assert.IsLessThan(1.5, simple, $"{codec}: constant image {simple} bits per dimension");
            Assert.IsGreaterThan(7.5, complex, $"{codec}: noise {complex} bits per dimension");
        }
    }

    /// <summary>What the pre-score library printed for Fixtures/anomaly-v1.zip (see the fixture's README).</summary>
    static class OldZip
    {
        public const float Threshold = 8.85465f;
        public static readonly float[] Scores = [7.9182534f, 8.563528f, 8.252282f, 8.562933f];
        public static Row16 Row(int i) => new() { Pixels = Enumerable.Range(0, 16).Select(p => (float)((i * 7 + p * 13) % 256)).ToArray() };
    }

    sealed class Row16
    {
        [VectorType(16)] public float[] Pixels { get; set; } = [];
    }
}
