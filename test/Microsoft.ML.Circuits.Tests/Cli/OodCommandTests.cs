using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Circuits.Training;
using Microsoft.ML.Circuits.Tests.MLNet;

namespace Microsoft.ML.Circuits.Tests.Cli;

/// <summary><c>circuits ood</c>, run as a separate process as a user would.</summary>
[TestClass]
public sealed class OodCommandTests
{
    static readonly Lazy<string> Model = new(() =>
    {
        var ml = new MLContext(seed: 2);
        var data = ml.Data.LoadFromEnumerable(MLNetData.Digits(MLNetData.Train, 512));
        using var transformer = ml.Transforms.ProbabilisticCircuit(MLNetData.SmallOptions()).Fit(data);
        string zip = Path.Combine(MLNetData.TempFolder(), "mnist.zip");
        ml.Model.Save(transformer, data.Schema, zip);
        return zip;
    });

    static (int ExitCode, string Output, string Error) Run(params string[] args) => CliTests.Run(args);

    /// <summary>AUROC, AUPR, FPR at 95 % TPR of the row whose label starts with <paramref name="label"/>.</summary>
    static double[] Metrics(string output, string label)
    {
        var line = output.Split('\n').Single(l => l.StartsWith(label + " ", StringComparison.Ordinal) || l.StartsWith(label + "  ", StringComparison.Ordinal));
        var numbers = Regex.Matches(line[label.Length..], @"-?\d+\.\d+").Select(m => double.Parse(m.Value, CultureInfo.InvariantCulture)).ToArray();
        return numbers[..3];
    }

    [TestMethod]
    public void OodPrintsEveryScoreAndTheAurocMatchesMLNetsEvaluator()
    {
        var (code, output, error) = Run("ood", "--model-path", Model.Value, "--in-dataset", "mnist", "--ood-dataset", "flipped", "--threads", "1");
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "mnist test split, 2004 images");
        foreach (var label in new[] { "BitsPerDimension", "InputComplexity (Deflate)", "LikelihoodRatio (mu=0.1)", "LocalComplexity (Deflate)", "RandomizedPca (rank 20)" })
        {
            var m = Metrics(output, label);
            Assert.IsTrue(m.All(v => v >= 0 && v <= 1), $"{label}: {string.Join(", ", m)}");
        }

        // The same AUROC from ML.NET's anomaly evaluator, on the same scores computed in this process.
        var test = MLNetData.Test;
        var flipped = new byte[test.Count * 784];
        for (int i = 0; i < test.Count; i++)
            for (int y = 0; y < 28; y++)
                test.Image(i).Slice(y * 28, 28).CopyTo(flipped.AsSpan(i * 784 + (27 - y) * 28, 28));
        var ood = new ImageDataset(28, 28, 1, flipped);
        var ml = new MLContext();
        using var transformer = (ProbabilisticCircuitTransformer)ml.Model.Load(Model.Value, out _);
        var inScores = AnomalyScores.Compute(transformer.Circuit, test, AnomalyScore.InputComplexity);
        var oodScores = AnomalyScores.Compute(transformer.Circuit, ood, AnomalyScore.InputComplexity);
        var rows = inScores.Select(s => (Label: 0f, Score: s)).Concat(oodScores.Select(s => (Label: 1f, Score: s)))
            .Select(r => new Scored { Label = r.Label, Score = (float)r.Score }).ToList();
        double auc = ml.AnomalyDetection.Evaluate(ml.Data.LoadFromEnumerable(rows)).AreaUnderRocCurve;
        Assert.AreEqual(auc, Metrics(output, "InputComplexity (Deflate)")[0], 1e-3);
    }

    [TestMethod]
    public void IdenticalSetsGiveAurocOneHalfAndNoiseIsFound()
    {
        var same = Run("ood", "--model-path", Model.Value, "--in-dataset", "mnist", "--ood-dataset", "mnist", "--score", "bits-per-dimension", "--pca-rank", "0");
        Assert.AreEqual(0, same.ExitCode, same.Error);
        Assert.AreEqual(0.5, Metrics(same.Output, "BitsPerDimension")[0], 1e-9);
        Assert.DoesNotContain("InputComplexity", same.Output);
        Assert.DoesNotContain("RandomizedPca", same.Output);

        var noise = Run("ood", "--model-path", Model.Value, "--in-dataset", "mnist", "--ood-dataset", "noise", "--codec", "all", "--pca-rank", "0");
        Assert.AreEqual(0, noise.ExitCode, noise.Error);
        StringAssert.Contains(noise.Output, "uniform noise, 2004 images");
        Assert.IsGreaterThan(0.99, Metrics(noise.Output, "BitsPerDimension")[0], noise.Output);
        foreach (var codec in Enum.GetNames<ComplexityCodec>())
            Assert.IsTrue(Metrics(noise.Output, $"InputComplexity ({codec})").All(v => v >= 0 && v <= 1), noise.Output);
    }

    [TestMethod]
    public void BadOodOptionsExitWithCode2AndSayWhatIsAllowed()
    {
        foreach (var (args, expected) in new[]
        {
            (new[] { "--ood-dataset", "blobs" }, "noise, constant, flipped"),
            (new[] { "--ood-dataset", "noise", "--score", "loudness" }, "bits-per-dimension, input-complexity, likelihood-ratio or local-complexity"),
            (new[] { "--ood-dataset", "noise", "--codec", "gif" }, "png, webp, deflate, brotli or all"),
            (new[] { "--ood-dataset", "noise", "--pca-rank", "-1" }, "--pca-rank"),
            (new[] { "--ood-dataset", "noise", "--background-mutation-rate", "0" }, "--background-mutation-rate"),
        })
        {
            var (code, _, error) = Run(["ood", "--model-path", Model.Value, "--in-dataset", "mnist", .. args]);
            Assert.AreEqual(2, code, string.Join(" ", args) + ": " + error);
            StringAssert.Contains(error, expected);
        }
        var unparsed = Run("ood", "--model-path", Model.Value, "--in-dataset", "mnist");
        Assert.AreEqual(2, unparsed.ExitCode, unparsed.Error);
        StringAssert.Contains(unparsed.Error, "--ood-dataset");
        var missing = Run("ood", "--model-path", "/nonexistent/model.zip", "--in-dataset", "mnist", "--ood-dataset", "noise");
        Assert.AreNotEqual(0, missing.ExitCode);
        StringAssert.Contains(missing.Error, "/nonexistent/model.zip");
    }

    sealed class Scored
    {
        public float Label { get; set; }
        public float Score { get; set; }
        public bool PredictedLabel { get; set; }
    }
}
