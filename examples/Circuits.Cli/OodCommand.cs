using System.CommandLine;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Circuits;
using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Data;

namespace Circuits.Cli;

/// <summary>
/// <c>ood</c>: out-of-distribution detection with a saved model. Scores the in-distribution test split and an
/// out-of-distribution set with every anomaly score (and ML.NET's RandomizedPca as a baseline) and prints AUROC, AUPR
/// and FPR at 95 % TPR, the OOD images being the positives.
/// </summary>
internal static class OodCommand
{
    /// <summary>Synthetic out-of-distribution sets, built from the in-distribution test split's shape and count.</summary>
    public static readonly IReadOnlyList<string> SyntheticSets = ["noise", "constant", "flipped"];

    public static Command Create()
    {
        var modelPath = new Option<string>("--model-path", "--model_path") { Description = "The model zip", Required = true };
        var inDataset = new Option<string>("--in-dataset") { Description = "The dataset the model was trained on: mnist | fashion_mnist | celeba", Required = true };
        var oodDataset = new Option<string>("--ood-dataset")
        {
            Description = "The out-of-distribution set: a dataset (mnist | fashion_mnist | celeba: its test split) or a synthetic set built from " +
                "the in-distribution test split: noise (uniform random pixels), constant (every pixel of an image one random value), " +
                "flipped (the test images upside down)",
            Required = true,
        };
        var data = new DataOptions();
        var oodDataDir = new Option<string?>("--ood-data-dir") { Description = "Data folder of the OOD dataset (default: its default folder)" };
        var score = new Option<string>("--score") { Description = "all | bits-per-dimension | input-complexity | likelihood-ratio | local-complexity", DefaultValueFactory = _ => "all" };
        var codec = new Option<string>("--codec") { Description = "Codec of input-complexity: png | webp | deflate | brotli | all (default: the library's default, deflate)", DefaultValueFactory = _ => "deflate" };
        var mutationRate = new Option<double>("--background-mutation-rate")
        {
            Description = "Perturbation rate of the likelihood-ratio background model", DefaultValueFactory = _ => PixelBackgroundModel.DefaultMutationRate,
        };
        var pcaRank = new Option<int>("--pca-rank") { Description = "Rank of the RandomizedPca baseline (pixels scaled to 0..1); 0 = no baseline", DefaultValueFactory = _ => 20 };
        var seed = new Option<int>("--seed") { Description = "Seed of the synthetic sets and of RandomizedPca", DefaultValueFactory = _ => 1 };
        var batchSize = new Option<int>("--batch-size") { Description = "Evaluation batch size", DefaultValueFactory = _ => 512 };
        var devices = new DeviceOptions();
        var command = new Command("ood", "Out-of-distribution detection: AUROC, AUPR and FPR at 95 % TPR of each anomaly score, in-distribution test split vs an OOD set.")
        {
            modelPath, inDataset, oodDataset, oodDataDir, score, codec, mutationRate, pcaRank, seed, batchSize,
        };
        data.AddTo(command);
        devices.AddTo(command);
        command.SetAction(result => Cli.Run(() =>
        {
            var scores = ParseScores(result.GetValue(score)!);
            var codecs = ParseCodecs(result.GetValue(codec)!);
            int batch = result.GetValue(batchSize);
            if (batch < 1) throw new ArgumentException($"--batch-size must be at least 1, got {batch}.");
            int rank = result.GetValue(pcaRank);
            if (rank < 0) throw new ArgumentException($"--pca-rank must be 0 (no baseline) or positive, got {rank}.");
            double rate = result.GetValue(mutationRate);
            if (!(rate > 0 && rate <= 1)) throw new ArgumentException($"--background-mutation-rate must lie in (0, 1], got {rate}.");
            string oodName = result.GetValue(oodDataset)!;
            bool synthetic = SyntheticSets.Contains(oodName.ToLowerInvariant());
            if (!synthetic && !Datasets.Names.Contains(Datasets.Normalize(oodName)))
                throw new ArgumentException($"Unknown --ood-dataset '{oodName}'; expected a dataset ({string.Join(", ", Datasets.Names)}) or a synthetic set ({string.Join(", ", SyntheticSets)}).");
            string inName = Datasets.Normalize(result.GetValue(inDataset)!);
            if (!Datasets.Names.Contains(inName))
                throw new ArgumentException($"Unknown --in-dataset '{inName}'; expected one of: {string.Join(", ", Datasets.Names)}.");
            var device = devices.Resolve(result);

            string path = result.GetValue(modelPath)!;
            using var model = ModelFiles.Load(path, device);
            var d = model.Description;
            if (model.Metadata.Training?.Dataset is { Length: > 0 } trainedOn && Datasets.Names.Contains(Datasets.Normalize(trainedOn)) &&
                Datasets.Normalize(trainedOn) != inName)
                Console.Error.WriteLine($"warning: the model was trained on {trainedOn}, but --in-dataset is {inName}: the in-distribution test split is not the model's.");
            var inSplits = data.Load(result, inName, d);
            var inTest = inSplits.Test;
            Microsoft.ML.Circuits.Training.Evaluation.CheckShape(d, inTest);
            var ood = synthetic
                ? Synthetic(oodName.ToLowerInvariant(), inTest, result.GetValue(seed))
                : LoadOod(result, Datasets.Normalize(oodName), result.GetValue(oodDataDir), data, d);
            Microsoft.ML.Circuits.Training.Evaluation.CheckShape(d, ood);

            Console.WriteLine($"model:            {path}");
            Console.WriteLine($"circuit:          {d}");
            Console.WriteLine($"in-distribution:  {inName} test split, {inTest.Count} images");
            Console.WriteLine($"out-of-distribution: {ood.Name}, {ood.Count} images");
            Console.WriteLine("positives are the OOD images; higher score = more anomalous");
            Console.WriteLine();
            Console.WriteLine($"{"score",-32} {"AUROC",7} {"AUPR",7} {"FPR@95TPR",10} {"mean in",9} {"mean OOD",9} {"µs/image",9}");
            var c = CultureInfo.InvariantCulture;
            // µs/image: the score's own cost on top of the shared circuit evaluation (for RandomizedPca: scoring, not fitting).
            void Row(string name, double[] inScores, double[] oodScores, double microseconds) =>
                Console.WriteLine(string.Format(c, "{0,-32} {1,7:F4} {2,7:F4} {3,10:F4} {4,9:F4} {5,9:F4} {6,9:F1}", name,
                    OodMetrics.Auroc(inScores, oodScores), OodMetrics.Aupr(inScores, oodScores), OodMetrics.FprAt95Tpr(inScores, oodScores),
                    inScores.Average(), oodScores.Average(), microseconds));
            var clock = new System.Diagnostics.Stopwatch();

            var inLl = Microsoft.ML.Circuits.Training.Evaluation.LogLikelihoods(model.Circuit, inTest, model.Metadata.Scoring, batch);
            var oodLl = Microsoft.ML.Circuits.Training.Evaluation.LogLikelihoods(model.Circuit, ood, model.Metadata.Scoring, batch);
            int categories = Math.Min(d.Categories, 256);
            var pixelBackground = scores.Contains(AnomalyScore.LikelihoodRatio) ? PixelBackgroundModel.Fit(inSplits.Train, rate, categories) : null;
            var localBackground = scores.Contains(AnomalyScore.LocalComplexity) ? LocalPixelModel.Fit(inSplits.Train, categories) : null;
            foreach (var kind in scores)
            {
                foreach (var k in kind is AnomalyScore.InputComplexity or AnomalyScore.LocalComplexity ? codecs : [AnomalyScores.DefaultCodec])
                {
                    string label = kind switch
                    {
                        AnomalyScore.InputComplexity or AnomalyScore.LocalComplexity => $"{kind} ({k})",
                        AnomalyScore.LikelihoodRatio => string.Format(c, "{0} (mu={1})", kind, rate),
                        _ => kind.ToString(),
                    };
                    clock.Restart();
                    BackgroundModel? background = kind == AnomalyScore.LikelihoodRatio ? pixelBackground : localBackground;
                    var inScores = AnomalyScores.FromLogLikelihoods(inLl, inTest, kind, k, background);
                    var oodScores = AnomalyScores.FromLogLikelihoods(oodLl, ood, kind, k, background);
                    Row(label, inScores, oodScores, clock.Elapsed.TotalMicroseconds / (inTest.Count + ood.Count));
                }
            }
            if (localBackground is not null)
            {
                // What the anomaly trainer would choose by default (AnomalyScores.Choose), on up to 5,000 training images.
                var sample = inSplits.Train.Subset(Enumerable.Range(0, Math.Min(5000, inSplits.Train.Count)).ToArray());
                var (chosen, circuitBits, localBits) = AnomalyScores.ChooseOn(
                    Microsoft.ML.Circuits.Training.Evaluation.LogLikelihoods(model.Circuit, sample, model.Metadata.Scoring, batch), sample, localBackground);
                Console.WriteLine(string.Format(c, "{0,-32} {1} (on {2:N0} training images: the circuit codes them in {3:F3} bits per dimension, the local pixel model in {4:F3})",
                    "default (automatic choice)", chosen, sample.Count, circuitBits, localBits));
            }
            if (rank > 0)
            {
                var (inPca, oodPca, seconds) = RandomizedPca(inSplits.Train, inTest, ood, rank, result.GetValue(seed));
                Row($"RandomizedPca (rank {rank})", inPca, oodPca, seconds * 1e6 / (inTest.Count + ood.Count));
            }
        }));
        return command;
    }

    static AnomalyScore[] ParseScores(string value)
    {
        if (value.Equals("all", StringComparison.OrdinalIgnoreCase)) return Enum.GetValues<AnomalyScore>();
        string key = value.Replace("-", "").Replace("_", "");
        foreach (var kind in Enum.GetValues<AnomalyScore>())
            if (kind.ToString().Equals(key, StringComparison.OrdinalIgnoreCase)) return [kind];
        throw new ArgumentException($"Unknown --score '{value}'; expected all, bits-per-dimension, input-complexity, likelihood-ratio or local-complexity.");
    }

    static ComplexityCodec[] ParseCodecs(string value) => value.ToLowerInvariant() switch
    {
        "all" => Enum.GetValues<ComplexityCodec>(),
        "png" => [ComplexityCodec.Png],
        "webp" or "webp-lossless" or "webplossless" => [ComplexityCodec.WebpLossless],
        "deflate" => [ComplexityCodec.Deflate],
        "brotli" => [ComplexityCodec.Brotli],
        _ => throw new ArgumentException($"Unknown --codec '{value}'; expected png, webp, deflate, brotli or all."),
    };

    static ImageDataset LoadOod(ParseResult result, string name, string? folder, DataOptions data, Microsoft.ML.Circuits.CircuitDescription d)
    {
        int crop = result.GetValue(data.CropSize);
        var imageOptions = new ImageFolderOptions { Size = d.ImageHeight, Channels = d.Channels, CropSize = crop == 0 ? null : crop };
        var test = Datasets.Load(name, folder, imageOptions: imageOptions).Test;
        return new ImageDataset(test.Height, test.Width, test.Channels, Bytes(test), null, $"{name} test split");
    }

    static byte[] Bytes(ImageDataset images)
    {
        var bytes = new byte[images.Count * images.ImageSize];
        for (int i = 0; i < images.Count; i++) images.Image(i).CopyTo(bytes.AsSpan(i * images.ImageSize));
        return bytes;
    }

    /// <summary>A synthetic OOD set with as many images as <paramref name="test"/>, of its shape.</summary>
    internal static ImageDataset Synthetic(string name, ImageDataset test, int seed)
    {
        var random = new Random(seed);
        int size = test.ImageSize, count = test.Count;
        var pixels = new byte[count * size];
        switch (name)
        {
            case "noise":
                random.NextBytes(pixels);
                return new ImageDataset(test.Height, test.Width, test.Channels, pixels, null, "uniform noise");
            case "constant":
                for (int i = 0; i < count; i++)
                {
                    var value = new byte[test.Channels];
                    random.NextBytes(value);
                    for (int p = 0; p < size; p++) pixels[i * size + p] = value[p % test.Channels];
                }
                return new ImageDataset(test.Height, test.Width, test.Channels, pixels, null, "constant images");
            case "flipped":
                int row = test.Width * test.Channels;
                for (int i = 0; i < count; i++)
                {
                    var image = test.Image(i);
                    for (int y = 0; y < test.Height; y++)
                        image.Slice(y * row, row).CopyTo(pixels.AsSpan(i * size + (test.Height - 1 - y) * row, row));
                }
                return new ImageDataset(test.Height, test.Width, test.Channels, pixels, null, $"{test.Name} flipped upside down");
            default:
                throw new ArgumentException($"Unknown synthetic set '{name}'; expected one of: {string.Join(", ", SyntheticSets)}.");
        }
    }

    sealed class PcaRow
    {
        public float[] Features { get; set; } = [];
    }

    /// <summary>ML.NET's RandomizedPca anomaly detector fitted on <paramref name="train"/> (pixels scaled to 0..1); its Score is higher for anomalies.</summary>
    static (double[] In, double[] Ood, double ScoringSeconds) RandomizedPca(ImageDataset train, ImageDataset inTest, ImageDataset ood, int rank, int seed)
    {
        var ml = new MLContext(seed);
        var schema = SchemaDefinition.Create(typeof(PcaRow));
        schema[nameof(PcaRow.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, train.ImageSize);
        IDataView View(ImageDataset images) => ml.Data.LoadFromEnumerable(
            Enumerable.Range(0, images.Count).Select(i =>
            {
                var image = images.Image(i);
                var features = new float[image.Length];
                for (int p = 0; p < features.Length; p++) features[p] = image[p] / 255f;
                return new PcaRow { Features = features };
            }), schema);
        var detector = ml.AnomalyDetection.Trainers.RandomizedPca(nameof(PcaRow.Features), rank: rank, seed: seed).Fit(View(train));
        double[] Score(ImageDataset images) => detector.Transform(View(images)).GetColumn<float>("Score").Select(s => (double)s).ToArray();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var scores = (Score(inTest), Score(ood));
        return (scores.Item1, scores.Item2, clock.Elapsed.TotalSeconds);
    }
}
