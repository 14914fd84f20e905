// Anomaly detection with a probabilistic circuit: fit on one class only, then score the whole test set. Images of the
// other classes should get higher scores (bits per dimension). Prints the AUC from mlContext.AnomalyDetection.Evaluate
// and writes a PNG with the most and the least likely test images.
//
// Usage: dotnet run --project examples/AnomalyDetection -- [mnist|fashion_mnist] [normal class] [epochs] [output.png]
// Defaults: the bundled MNIST sample, class 1, 10 epochs, anomalies.png.
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Circuits;
using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Data;
using SkiaSharp;

string dataset = args.Length > 0 ? args[0] : "mnist";
int normal = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1;
int epochs = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 10;
string output = args.Length > 3 ? args[3] : "anomalies.png";

DatasetSplits data;
try { data = Datasets.Load(dataset); }
catch (Exception e) when (e is IOException or ArgumentException)
{
    Console.Error.WriteLine(e.Message);
    return 1;
}
var train = data.Train.WithLabel(normal);
Console.WriteLine($"{dataset}: fitting on the {train.Count} training images of class {normal}; scoring all {data.Test.Count} test images");

var ml = new MLContext(seed: 1);
var detector = ml.AnomalyDetection.Trainers.ProbabilisticCircuit(new ProbabilisticCircuitAnomalyOptions
{
    RegionGraph = RegionGraphKind.QuadGraph, Layer = LayerKind.CP, Units = 8, MaxEpochs = epochs, LearningRate = 0.1, BatchSize = 64,
    ThresholdQuantile = 0.95, EpochCompleted = e => Console.WriteLine($"  epoch {e.Epoch}: validation bpd {e.ValidBitsPerDimension:F4}"),
}).Fit(ml.Data.LoadFromEnumerable(Rows(train, _ => 0f)));
Console.WriteLine($"threshold (0.95 quantile of the training scores): {detector.Threshold:F4} bits per dimension");

// Label = 1 for an anomaly (any other class), 0 for the normal class: ML.NET's anomaly evaluator reads a Single label.
var scored = detector.Transform(ml.Data.LoadFromEnumerable(Rows(data.Test, label => label == normal ? 0f : 1f)));
var metrics = ml.AnomalyDetection.Evaluate(scored);
Console.WriteLine($"AUC {metrics.AreaUnderRocCurve:F4}; detection rate at 10 false positives {metrics.DetectionRateAtFalsePositiveCount:F4}");

var scores = scored.GetColumn<float>("Score").ToArray();
var order = Enumerable.Range(0, scores.Length).OrderBy(i => scores[i]).ToArray();
WriteGrid(output, data.Test, order[..10], order[^10..]);
Console.WriteLine($"wrote {output}: top row the 10 most likely test images (lowest score), bottom row the 10 least likely");
Console.WriteLine($"labels of the least likely: {string.Join(" ", order[^10..].Select(data.Test.Label))}");
return 0;

static IEnumerable<Digit> Rows(ImageDataset images, Func<int, float> label) =>
    Enumerable.Range(0, images.Count).Select(i => new Digit { Pixels = images.Image(i).ToArray().Select(b => (float)b).ToArray(), Label = label(images.Label(i)) });

static void WriteGrid(string path, ImageDataset images, int[] top, int[] bottom)
{
    const int scale = 3, side = 28 * scale, gap = 4;
    using var bitmap = new SKBitmap(10 * (side + gap) + gap, 2 * (side + gap) + gap);
    using var canvas = new SKCanvas(bitmap);
    canvas.Clear(new SKColor(255, 140, 0));
    foreach (var (row, indices) in new[] { (0, top), (1, bottom) })
        for (int k = 0; k < indices.Length; k++)
        {
            var pixels = images.Image(indices[k]);
            for (int p = 0; p < 784; p++)
            {
                byte v = pixels[p];
                using var paint = new SKPaint { Color = new SKColor(v, v, v) };
                canvas.DrawRect(gap + k * (side + gap) + (p % 28) * scale, gap + row * (side + gap) + (p / 28) * scale, scale, scale, paint);
            }
        }
    using var image = SKImage.FromBitmap(bitmap);
    using var png = image.Encode(SKEncodedImageFormat.Png, 100);
    File.WriteAllBytes(path, png.ToArray());
}

sealed class Digit
{
    [VectorType(1, 28, 28)] public float[] Pixels { get; set; } = [];
    public float Label { get; set; }
}
