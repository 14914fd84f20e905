// An ML.NET pipeline from image files on disk to exact log-likelihoods:
//   LoadImages → ResizeImages → ConvertToGrayscale → ExtractPixels → ProbabilisticCircuit
// It fits the chain, saves it as a standard ML.NET model zip, reloads it and prints log-likelihoods.
//
// Usage: dotnet run --project examples/ImagePipeline -- [image folder] [epochs]
// Without a folder, it first writes 1,000 digits of the bundled MNIST sample as PNG files to a temporary folder.
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Circuits;
using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Data;
using SkiaSharp;
using static Microsoft.ML.Transforms.Image.ImagePixelExtractingEstimator;

string folder = args.Length > 0 ? args[0] : WriteSampleDigits(Path.Combine(Path.GetTempPath(), "circuits-image-pipeline"), 1000);
int epochs = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 5;
var files = Directory.EnumerateFiles(folder).Where(f => f.EndsWith(".png", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase))
    .Order(StringComparer.Ordinal).Select(f => new ImageFile { ImagePath = Path.GetFileName(f) }).ToList();
if (files.Count < 40)
{
    Console.Error.WriteLine($"{folder} holds {files.Count} images; at least 40 are needed.");
    return 1;
}
Console.WriteLine($"{files.Count} images in {folder}");

var ml = new MLContext(seed: 1);
ml.Log += (_, e) => { if (e.Source.StartsWith("ProbabilisticCircuit")) Console.WriteLine("  " + e.RawMessage); };
var data = ml.Data.LoadFromEnumerable(files);
var pipeline = ml.Transforms.LoadImages("Image", folder, nameof(ImageFile.ImagePath))
    .Append(ml.Transforms.ResizeImages("Image", 28, 28))
    .Append(ml.Transforms.ConvertToGrayscale("Image"))
    .Append(ml.Transforms.ExtractPixels("Pixels", "Image", colorsToExtract: ColorBits.Red, outputAsFloatArray: true))
    .Append(ml.Transforms.ProbabilisticCircuit(new ProbabilisticCircuitOptions
    {
        RegionGraph = RegionGraphKind.QuadGraph, Layer = LayerKind.CP, Units = 8, MaxEpochs = epochs, LearningRate = 0.1, BatchSize = 64,
    }));

Console.WriteLine("fitting LoadImages → ResizeImages → ConvertToGrayscale → ExtractPixels → ProbabilisticCircuit");
var model = pipeline.Fit(data);
var circuit = model.LastTransformer;
Console.WriteLine($"circuit: {circuit.Description}, {circuit.ParameterCount.Total:N0} parameters, " +
                  $"validation bpd {circuit.TrainingReport!.ValidBitsPerDimension:F4}");

string zip = Path.Combine(folder, "image-pipeline.zip");
ml.Model.Save(model, data.Schema, zip);
Console.WriteLine($"saved {zip} ({new FileInfo(zip).Length:N0} bytes)");

var reloaded = new MLContext().Model.Load(zip, out _);
var scored = reloaded.Transform(data);
var names = files.Select(f => f.ImagePath).ToList();
var ll = scored.GetColumn<float>("LogLikelihood").ToList();
var bpd = scored.GetColumn<float>("BitsPerDimension").ToList();
Console.WriteLine("first images, scored by the reloaded model:");
for (int i = 0; i < Math.Min(8, ll.Count); i++)
    Console.WriteLine($"  {names[i],-16} log-likelihood {ll[i],10:F2}  bits/dim {bpd[i]:F4}");
Console.WriteLine($"mean bits per dimension over {ll.Count} images: {bpd.Average():F4}");
return 0;

static string WriteSampleDigits(string folder, int count)
{
    Directory.CreateDirectory(folder);
    var test = Datasets.Load("mnist").Test;
    for (int i = 0; i < count; i++)
    {
        var pixels = test.Image(i);
        using var bitmap = new SKBitmap(28, 28, SKColorType.Gray8, SKAlphaType.Opaque);
        for (int p = 0; p < 784; p++) bitmap.SetPixel(p % 28, p / 28, new SKColor(pixels[p], pixels[p], pixels[p]));
        using var image = SKImage.FromBitmap(bitmap);
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(Path.Combine(folder, $"digit{i:0000}.png"), png.ToArray());
    }
    return folder;
}

sealed class ImageFile
{
    public string ImagePath { get; set; } = "";
}
