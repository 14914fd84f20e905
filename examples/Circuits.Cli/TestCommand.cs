using System.CommandLine;
using System.Globalization;
using Microsoft.ML.Circuits;
using Microsoft.ML.Circuits.Training;
using Microsoft.ML.Circuits.Data;
using TorchSharp;

namespace Circuits.Cli;

/// <summary><c>test</c>: the original <c>testing.py</c>: train / valid / test log-likelihood and bits per dimension of a saved model.</summary>
internal static class TestCommand
{
    public static Command Create()
    {
        var modelPath = new Option<string>("--model-path", "--model_path") { Description = "The model zip", Required = true };
        var dataset = new Option<string>("--dataset") { Description = "mnist | fashion_mnist | celeba", DefaultValueFactory = _ => "mnist" };
        var data = new DataOptions();
        var csv = new Option<string?>("--csv-file-path") { Description = "Append a row (path, LLs, bpds) to this CSV file" };
        var batchSize = new Option<int>("--batch-size") { Description = "Evaluation batch size", DefaultValueFactory = _ => 512 };
        var mask = new Option<string?>("--mask") { Description = $"Hide pixels ({PixelMasks.Names}) and report the marginal LL and bits per observed dimension" };
        var seed = new Option<int>("--seed") { Description = "Seed of --mask random", DefaultValueFactory = _ => 0 };
        var devices = new DeviceOptions();
        var command = new Command("test", "Evaluate a saved model on the train, valid and test splits of a dataset.")
        {
            modelPath, dataset, csv, batchSize, mask, seed,
        };
        data.AddTo(command);
        devices.AddTo(command);
        command.SetAction(result => Cli.Run(() =>
        {
            int batch = result.GetValue(batchSize);
            if (batch < 1) throw new ArgumentException("--batch-size must be at least 1.");
            string? maskName = result.GetValue(mask) is { } m ? PixelMasks.Check(m) : null;
            var target = devices.Resolve(result);
            string path = result.GetValue(modelPath)!;
            using var model = ModelFiles.Load(path, target);
            var d = model.Description;
            var splits = data.Load(result, result.GetValue(dataset)!, d);
            Console.WriteLine($"model:  {path}");
            Console.WriteLine($"circuit: {d}");
            if (maskName is not null) Console.WriteLine($"mask:   {maskName} (marginal log-likelihood of the observed pixels; bpd per observed dimension)");
            var c = CultureInfo.InvariantCulture;
            var rows = new List<(string Split, double LogLikelihood, double Bpd)>();
            foreach (var (name, split) in new[] { ("train", splits.Train), ("valid", splits.Valid), ("test", splits.Test) })
            {
                var (ll, bpd) = maskName is null
                    ? Whole(model.Circuit, split, batch)
                    : Marginal(model.Circuit, split, batch, maskName, result.GetValue(seed));
                rows.Add((name, ll, bpd));
                Console.WriteLine(string.Format(c, "{0,-5}  {1,6} images  LL {2,12:F4}  bpd {3:F4}", name, split.Count, ll, bpd));
            }
            if (result.GetValue(csv) is { } csvPath)
            {
                bool header = !File.Exists(csvPath);
                string? folder = Path.GetDirectoryName(Path.GetFullPath(csvPath));
                if (folder is not null) Directory.CreateDirectory(folder);
                using var writer = File.AppendText(csvPath);
                if (header) writer.WriteLine("path,train_LL,valid_LL,test_LL,train_bpd,valid_bpd,test_bpd");
                writer.WriteLine(string.Join(",", new[] { Quote(path) }.Concat(rows.Select(r => r.LogLikelihood.ToString("R", c))).Concat(rows.Select(r => r.Bpd.ToString("R", c)))));
                Console.WriteLine($"appended to {csvPath}");
            }
        }));
        return command;
    }

    static (double LogLikelihood, double Bpd) Whole(TensorizedCircuit circuit, ImageDataset split, int batch)
    {
        double ll = Evaluation.MeanLogLikelihood(circuit, split, batch);
        return (ll, Evaluation.BitsPerDimension(ll, circuit.Description.Dimensions));
    }

    /// <summary>Mean marginal log-likelihood of the observed pixels under the mask, and bits per observed dimension over the split.</summary>
    static (double LogLikelihood, double Bpd) Marginal(TensorizedCircuit circuit, ImageDataset split, int batch, string mask, int seed)
    {
        var d = circuit.Description;
        double total = 0;
        long observed = 0;
        using var _ = torch.no_grad();
        for (int start = 0; start < split.Count; start += batch)
        {
            using var scope = torch.NewDisposeScope();
            int count = Math.Min(batch, split.Count - start);
            var masks = Enumerable.Range(start, count).Select(i => PixelMasks.Create(mask, d.ImageHeight, d.ImageWidth, i, seed)).ToArray();
            observed += masks.Sum(m => (long)m.Count(hidden => !hidden)) * d.Channels;
            var x = split.Batch(start, count, circuit.Device);
            var missing = torch.tensor(masks.SelectMany(m => m).ToArray(), [count, d.Variables]).to(circuit.Device);
            total += circuit.MarginalLogLikelihood(x, missing).to(torch.ScalarType.Float64).sum().item<double>();
        }
        double mean = total / split.Count;
        return (mean, observed == 0 ? double.NaN : -total / (Math.Log(2) * observed));
    }

    static string Quote(string value) => value.Contains(',') || value.Contains('"') ? "\"" + value.Replace("\"", "\"\"") + "\"" : value;
}
