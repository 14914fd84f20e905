using System.CommandLine;
using System.Globalization;
using Microsoft.ML.Circuits.Queries;
using Microsoft.ML.Circuits.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Cli;

/// <summary>
/// <c>inpaint</c>: hides part of test images and fills it with conditional samples and the MAP (max-product)
/// completion; writes a PNG grid (original | masked | samples | MAP, one row per image) and compares the MAP completion's
/// log-likelihood with the best of the conditional samples.
/// </summary>
internal static class InpaintCommand
{
    public static Command Create()
    {
        var modelPath = new Option<string>("--model-path", "--model_path") { Description = "The model zip", Required = true };
        var dataset = new Option<string>("--dataset") { Description = "mnist | fashion_mnist | celeba", DefaultValueFactory = _ => "mnist" };
        var mask = new Option<string>("--mask") { Description = PixelMasks.Names + " (the hidden part)", DefaultValueFactory = _ => "left" };
        var count = new Option<int>("--n") { Description = "Number of test images", DefaultValueFactory = _ => 8 };
        var start = new Option<int>("--start") { Description = "Index of the first test image", DefaultValueFactory = _ => 0 };
        var samples = new Option<int>("--samples") { Description = "Conditional samples per image", DefaultValueFactory = _ => 4 };
        var seed = new Option<int>("--seed") { Description = "Seed of the samples and of the random mask", DefaultValueFactory = _ => 0 };
        var output = new Option<string>("--output") { Description = "The PNG grid to write", DefaultValueFactory = _ => "inpaint.png" };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace --output if it exists" };
        var data = new DataOptions();
        var devices = new DeviceOptions();
        var command = new Command("inpaint", "Fill hidden pixels of test images with conditional samples and the MAP completion; write a PNG grid.")
        {
            modelPath, dataset, mask, count, start, samples, seed, output, overwrite,
        };
        data.AddTo(command);
        devices.AddTo(command);
        command.SetAction(result => Cli.Run(() =>
        {
            int n = result.GetValue(count), first = result.GetValue(start), s = result.GetValue(samples), seedValue = result.GetValue(seed);
            if (n is < 1 or > 256) throw new ArgumentException($"--n must be between 1 and 256, got {n}.");
            if (s is < 0 or > 64) throw new ArgumentException($"--samples must be between 0 and 64, got {s}.");
            if (first < 0) throw new ArgumentException($"--start must be 0 or more, got {first}.");
            string maskName = PixelMasks.Check(result.GetValue(mask));
            string path = result.GetValue(output)!;
            ImageGrid.CheckOutput(path, result.GetValue(overwrite));
            var target = devices.Resolve(result);
            using var model = ModelFiles.Load(result.GetValue(modelPath)!, target);
            var d = model.Description;
            var test = data.Load(result, result.GetValue(dataset)!, d).Test;
            if (first + n > test.Count) throw new ArgumentException($"--start {first} + --n {n} is past the {test.Count} test images.");
            var grid = new ImageGrid(n, 3 + s, d.ImageHeight, d.ImageWidth, d.Channels, d.Categories);

            using var scope = NewDisposeScope();
            using var _ = torch.no_grad();
            var masks = Enumerable.Range(0, n).Select(i => PixelMasks.Create(maskName, d.ImageHeight, d.ImageWidth, first + i, seedValue)).ToArray();
            var x = test.Batch(first, n, target);
            var missing = torch.tensor(masks.SelectMany(m => m).ToArray(), [n, d.Variables]).to(target);
            var map = new MaxProductQuery(model.Circuit).Complete(x, missing);
            var mapLl = model.Circuit.LogLikelihood(map).to(ScalarType.Float64).cpu().data<double>().ToArray();
            var marginal = model.Circuit.MarginalLogLikelihood(x, missing).to(ScalarType.Float64).cpu().data<double>().ToArray();
            byte[] sampleBytes = [];
            double[] sampleLl = [];
            if (s > 0)
            {
                // Image i's samples are rows i·S … i·S + S − 1.
                var repeated = x.repeat_interleave(s, 0);
                var drawn = new SamplingQuery(model.Circuit).SampleConditional(repeated, missing.repeat_interleave(s, 0), seedValue);
                sampleLl = model.Circuit.LogLikelihood(drawn).to(ScalarType.Float64).cpu().data<double>().ToArray();
                sampleBytes = drawn.to(ScalarType.Byte).cpu().data<byte>().ToArray();
            }
            var originals = x.to(ScalarType.Byte).cpu().data<byte>().ToArray();
            var maps = map.to(ScalarType.Byte).cpu().data<byte>().ToArray();
            int size = d.Variables * d.Channels;
            var c = CultureInfo.InvariantCulture;
            Console.WriteLine($"model:  {result.GetValue(modelPath)}");
            Console.WriteLine($"mask:   {maskName}; {n} test images from {first}; {s} conditional samples each; columns: original | masked | samples | MAP");
            Console.WriteLine(" image  hidden  marginal bpd   log p(MAP)   best sample   mean sample");
            double gap = 0;
            for (int i = 0; i < n; i++)
            {
                grid.Draw(i, 0, originals.AsSpan(i * size, size));
                grid.Draw(i, 1, originals.AsSpan(i * size, size), masks[i]);
                for (int k = 0; k < s; k++) grid.Draw(i, 2 + k, sampleBytes.AsSpan((i * s + k) * size, size));
                grid.Draw(i, 2 + s, maps.AsSpan(i * size, size));
                int observed = (d.Variables - masks[i].Count(m => m)) * d.Channels;
                double bpd = observed > 0 ? Evaluation.BitsPerDimension(marginal[i], observed) : double.NaN;
                var own = sampleLl.Skip(i * s).Take(s).ToArray();
                double best = s > 0 ? own.Max() : double.NaN, mean = s > 0 ? own.Average() : double.NaN;
                gap += mapLl[i] - best;
                Console.WriteLine(string.Format(c, "{0,6}  {1,6}  {2,12:F4}  {3,11:F2}  {4,12:F2}  {5,12:F2}", first + i, masks[i].Count(m => m), bpd, mapLl[i], best, mean));
            }
            if (s > 0)
                Console.WriteLine(string.Format(c, "MAP minus best of {0} samples, mean log p: {1:F2} nats (positive: MAP is more likely)", s, gap / n));
            grid.Save(path, result.GetValue(overwrite));
            Console.WriteLine($"wrote {path}");
        }));
        return command;
    }
}
