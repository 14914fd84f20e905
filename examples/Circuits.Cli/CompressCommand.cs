using System.CommandLine;
using System.Globalization;
using Microsoft.ML.Circuits;
using Microsoft.ML.Circuits.Compression;
using Microsoft.ML.Circuits.Training;

namespace Circuits.Cli;

/// <summary>
/// <c>compress</c>: the original <c>compression.py</c>. Rewrites a trained Tucker model as an uncollapsed-CP model of
/// rank R, writes <c>&lt;save-model-dir&gt;/rank_&lt;R&gt;.zip</c>, prints each layer's relative reconstruction
/// error and, with a dataset, the test bpd right after compression.
/// </summary>
internal static class CompressCommand
{
    public static Command Create()
    {
        var tuckerPath = new Option<string>("--tucker-model-path") { Description = "The trained Tucker model zip", Required = true };
        var saveDir = new Option<string>("--save-model-dir") { Description = "Folder for rank_<R>.zip", Required = true };
        var rank = new Option<int>("--rank") { Description = "CP rank R", Required = true };
        var dataset = new Option<string?>("--dataset") { Description = "Evaluate the compressed model on this dataset's test split" };
        var data = new DataOptions();
        var seed = new Option<int>("--seed") { Description = "Seed of the decomposition's initialisation", DefaultValueFactory = _ => 42 };
        var iterations = new Option<int>("--max-iterations") { Description = "Maximum HALS sweeps per layer", DefaultValueFactory = _ => new NonNegativeCpOptions().MaxIterations };
        var devices = new DeviceOptions();
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace an existing rank_<R>.zip", DefaultValueFactory = _ => false };
        var command = new Command("compress", "Compress the Tucker layers of a trained model into rank-R CP layers.")
        {
            tuckerPath, saveDir, rank, dataset, seed, iterations, overwrite,
        };
        data.AddTo(command);
        devices.AddTo(command);
        command.SetAction(result => Cli.Run(() =>
        {
            int r = result.GetValue(rank);
            if (r < 1) throw new ArgumentException($"--rank must be at least 1, got {r}.");
            Paths.RequireInputFile(result.GetValue(tuckerPath)!, "--tucker-model-path", "a model file (.zip)");
            Paths.RequireFolder(result.GetValue(saveDir)!, "--save-model-dir");
            Paths.RequireInputFolder(result.GetValue(data.DataDir), "--data-dir", "a data folder");
            var target = devices.Resolve(result);
            string output = Path.Combine(result.GetValue(saveDir)!, $"rank_{r}{ModelFiles.Extension}");
            bool replace = result.GetValue(overwrite);
            if (Directory.Exists(output))
                throw new ArgumentException($"--save-model-dir: {output} is a folder; the compressed model needs a file there.");
            if (File.Exists(output) && !replace)
                throw new IOException($"{output} already exists; it was left untouched (pass --overwrite to replace it).");
            using var tucker = ModelFiles.Load(result.GetValue(tuckerPath)!, target);
            var c = CultureInfo.InvariantCulture;
            Console.WriteLine($"compressing {tucker.Description} at rank {r}");
            var options = new TuckerCompressionOptions
            {
                Decomposition = new NonNegativeCpOptions { Seed = result.GetValue(seed), MaxIterations = result.GetValue(iterations) },
                LayerCompressed = (layer, error, sweeps) => Console.WriteLine(string.Format(c, "  layer {0,2} ({1,4} folds): relative error {2:F5} after {3} sweeps",
                    layer, tucker.Circuit.Layers[layer].Folds, error, sweeps)),
            };
            using var compressed = TuckerCompression.Compress(tucker, r, options);
            compressed.Metadata = compressed.Metadata with { Source = Path.GetFullPath(result.GetValue(tuckerPath)!) };
            var report = compressed.Metadata.Compression!;
            Console.WriteLine($"into        {compressed.Description}");
            Console.WriteLine(string.Format(c, "parameters  {0:N0} -> {1:N0}; decomposition {2:F1} s", tucker.Circuit.ParameterCount.Total, compressed.Circuit.ParameterCount.Total, report.Seconds));
            if (result.GetValue(dataset) is { } name)
            {
                var d = compressed.Description;
                var test = data.Load(result, name, d).Test;
                double ll = Evaluation.MeanLogLikelihood(compressed.Circuit, test);
                double bpd = Evaluation.BitsPerDimension(ll, d.Dimensions);
                compressed.Metadata = compressed.Metadata with { Compression = report with { TestBitsPerDimension = bpd } };
                Console.WriteLine(string.Format(c, "test bpd right after compression: {0:F4}", bpd));
            }
            ModelFiles.Save(compressed.Circuit, compressed.Metadata, output, replace);
            Console.WriteLine($"saved {output}");
        }));
        return command;
    }
}
