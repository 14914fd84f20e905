using System.CommandLine;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Circuits;
using Microsoft.ML.Circuits.Onnx;
using Microsoft.ML.Circuits.Training;
using Microsoft.ML.OnnxRuntime;

namespace Circuits.Cli;

/// <summary>
/// <c>export-onnx</c>: writes a saved model (density or anomaly detector) as an ONNX model, then loads it with ONNX
/// Runtime and checks its log-likelihoods against TorchSharp's on a few images (the bundled MNIST test digits for
/// 28×28 models, random pixels otherwise).
/// </summary>
internal static class ExportOnnxCommand
{
    const double Tolerance = 1e-4;

    public static Command Create()
    {
        var modelPath = new Option<string>("--model-path", "--model_path") { Description = "The model zip", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "The ONNX file to write", Required = true };
        var pixelType = new Option<string>("--pixel-type") { Description = "float | uint8: element type of the 'pixels' input", DefaultValueFactory = _ => "float" };
        var shape = new Option<string>("--shape") { Description = "image ([N, C, H, W]) | flat ([N, C·H·W], what ML.NET pixel vectors hold)", DefaultValueFactory = _ => "image" };
        var channelsLast = new Option<bool>("--channels-last") { Description = "Channels last ([N, H, W, C] / interleaved) instead of planar" };
        var pixelScale = new Option<float?>("--pixel-scale") { Description = "Float pixels are multiplied by this (255 for 0..1 values; default: the model's)" };
        var checkImages = new Option<int>("--check-images") { Description = "Images to compare ONNX Runtime with TorchSharp on (0 = no check)", DefaultValueFactory = _ => 64 };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace an existing output file" };
        var command = new Command("export-onnx", "Write a saved model as an ONNX model (standard operators, opset 17) and check it with ONNX Runtime.")
        {
            modelPath, output, pixelType, shape, channelsLast, pixelScale, checkImages, overwrite,
        };
        command.SetAction(result => Cli.Run(() =>
        {
            string path = result.GetValue(output)!;
            if (File.Exists(path) && !result.GetValue(overwrite))
                throw new IOException($"{path} already exists; it was left untouched (give --overwrite to replace it).");
            int check = result.GetValue(checkImages);
            if (check < 0) throw new ArgumentException("--check-images must be 0 or more.");
            using var transformer = CircuitModelFile.Load(new MLContext(), result.GetValue(modelPath)!);
            var type = result.GetValue(pixelType)!.ToLowerInvariant() switch
            {
                "float" => OnnxPixelType.Float,
                "uint8" or "byte" => OnnxPixelType.Byte,
                var other => throw new ArgumentException($"--pixel-type must be float or uint8, got '{other}'."),
            };
            var defaults = transformer.OnnxOptions(type);
            var options = new OnnxExportOptions
            {
                PixelType = type,
                Shape = result.GetValue(shape)!.ToLowerInvariant() switch
                {
                    "image" => OnnxPixelShape.Image,
                    "flat" => OnnxPixelShape.Flat,
                    var other => throw new ArgumentException($"--shape must be image or flat, got '{other}'."),
                },
                ChannelsLast = result.GetValue(channelsLast),
                PixelScale = result.GetValue(pixelScale) ?? defaults.PixelScale,
            };
            transformer.WriteOnnx(path, options);
            var d = transformer.Description;
            using var session = new InferenceSession(path);
            var input = session.InputMetadata["pixels"];
            var c = CultureInfo.InvariantCulture;
            Console.WriteLine($"wrote {path} ({new FileInfo(path).Length / 1048576.0:F1} MB): {d}");
            Console.WriteLine($"  input  pixels {input.ElementDataType} [{string.Join(", ", input.Dimensions.Select(x => x < 0 ? "N" : x.ToString(c)))}]" +
                (type == OnnxPixelType.Float ? string.Format(c, ", ×{0} then rounded to 0..{1}", options.PixelScale, d.Categories - 1) : ""));
            Console.WriteLine($"  outputs {string.Join(", ", session.OutputMetadata.Keys)}");
            if (session.ModelMetadata.CustomMetadataMap.TryGetValue("anomaly_threshold", out var threshold))
                Console.WriteLine($"  anomaly score {session.ModelMetadata.CustomMetadataMap["anomaly_score"]}, predicted_label = score > {threshold}");
            if (check == 0) return;

            var images = OnnxPixels.CheckImages(d, check);
            var expected = Evaluation.LogLikelihoods(transformer.Circuit, images);
            using var results = session.Run([OnnxPixels.Input(images, 0, images.Count, options)]);
            var actual = results.First(r => r.Name == "log_likelihood").AsEnumerable<float>().ToArray();
            double worst = expected.Select((e, i) => Math.Abs(actual[i] - e) / Math.Abs(e)).Max();
            Console.WriteLine(string.Format(c, "check: {0} images ({1}), ONNX Runtime {2} vs TorchSharp log-likelihoods: largest relative difference {3:E2} (tolerance {4:E0})",
                images.Count, images.Name, OrtEnv.Instance().GetVersionString(), worst, Tolerance));
            if (!(worst <= Tolerance))
                throw new InvalidOperationException($"the exported model disagrees with TorchSharp (largest relative difference {worst:E2} > {Tolerance:E0}); {path} was written but should not be used.");
        }));
        return command;
    }
}
