using System.CommandLine;
using System.Globalization;
using Microsoft.ML.Circuits.Queries;
using Microsoft.ML.Circuits.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Cli;

/// <summary><c>sample</c>: exact samples from a saved model, written as a PNG grid.</summary>
internal static class SampleCommand
{
    public static Command Create()
    {
        var modelPath = new Option<string>("--model-path", "--model_path") { Description = "The model zip", Required = true };
        var count = new Option<int>("--n") { Description = "Number of samples", DefaultValueFactory = _ => 64 };
        var seed = new Option<int>("--seed") { Description = "Seed of the draws (the same seed gives the same images)", DefaultValueFactory = _ => 0 };
        var output = new Option<string>("--output") { Description = "The PNG grid to write", DefaultValueFactory = _ => "samples.png" };
        var columns = new Option<int>("--columns") { Description = "Images per row of the grid", DefaultValueFactory = _ => 8 };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace --output if it exists" };
        var devices = new DeviceOptions();
        var command = new Command("sample", "Draw exact samples from a saved model and write them as a PNG grid.")
        {
            modelPath, count, seed, output, columns, overwrite,
        };
        devices.AddTo(command);
        command.SetAction(result => Cli.Run(() =>
        {
            int n = result.GetValue(count), perRow = result.GetValue(columns);
            if (n is < 1 or > 4096) throw new ArgumentException($"--n must be between 1 and 4096, got {n}.");
            if (perRow < 1) throw new ArgumentException($"--columns must be at least 1, got {perRow}.");
            string path = result.GetValue(output)!;
            ImageGrid.CheckOutput(path, result.GetValue(overwrite));
            var target = devices.Resolve(result);
            using var model = ModelFiles.Load(result.GetValue(modelPath)!, target);
            var d = model.Description;
            int rows = (n + perRow - 1) / perRow;
            var grid = new ImageGrid(rows, Math.Min(n, perRow), d.ImageHeight, d.ImageWidth, d.Channels, d.Categories);

            using var scope = NewDisposeScope();
            var samples = new SamplingQuery(model.Circuit).Sample(n, result.GetValue(seed));
            using var _ = torch.no_grad();
            double ll = model.Circuit.LogLikelihood(samples).to(ScalarType.Float64).mean().item<double>();
            var bytes = samples.to(ScalarType.Byte).cpu().data<byte>().ToArray();
            int size = d.Variables * d.Channels;
            for (int i = 0; i < n; i++) grid.Draw(i / perRow, i % perRow, bytes.AsSpan(i * size, size));
            grid.Save(path, result.GetValue(overwrite));
            Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "{0} samples of {1}: mean LL {2:F4}, bpd {3:F4}",
                n, d, ll, Evaluation.BitsPerDimension(ll, d.Dimensions)));
            Console.WriteLine($"wrote {path}");
        }));
        return command;
    }
}
