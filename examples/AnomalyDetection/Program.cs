// Out-of-distribution detection with a probabilistic circuit and its default anomaly score (LocalComplexity: bits per
// dimension minus the shorter of a generic codec's and a learned local pixel code's lengths; see docs/benchmarks.md): fit on images of one dataset, then score a test set that mixes that
// dataset's test images (normal, label 0) with another dataset's (anomalies, label 1). Prints the metrics of
// mlContext.AnomalyDetection.Evaluate and writes a PNG: top row the 10 least anomalous test images, bottom row the 10
// most anomalous; a green frame marks an in-distribution image, a red frame an out-of-distribution one.
//
// Usage: dotnet run --project examples/AnomalyDetection -c Release -- [in-dataset] [ood-dataset] [training images] [epochs] [output.png]
// Defaults: fashion_mnist (Debian's dataset-fashion-mnist) as the normal data, the bundled MNIST sample as the
// anomalies, 10000 training images, 10 epochs, anomalies.png. (The hard direction: under a model of garments, raw
// bits per dimension rank digits as *more* normal than garments.)
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Circuits;
using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Data;
using SkiaSharp;

string inName = args.Length > 0 ? args[0] : "fashion_mnist";
string oodName = args.Length > 1 ? args[1] : "mnist";
int trainCount = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 10_000;
int epochs = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 10;
string output = args.Length > 4 ? args[4] : "anomalies.png";

DatasetSplits inData, oodData;
try
{
    inData = Datasets.Load(inName);
    oodData = Datasets.Load(oodName);
}
catch (Exception e) when (e is IOException or ArgumentException or InvalidDataException)
{
    Console.Error.WriteLine(e.Message);
    return 1;
}
var train = inData.Train.Subset(Enumerable.Range(0, Math.Min(trainCount, inData.Train.Count)).ToArray());
// An even test split: as many normal test images as anomalies.
int perSide = Math.Min(inData.Test.Count, oodData.Test.Count);
var normalTest = inData.Test.Subset(Enumerable.Range(0, perSide).ToArray());
var anomalyTest = oodData.Test.Subset(Enumerable.Range(0, perSide).ToArray());
Console.WriteLine($"fitting on {train.Count} {inName} training images; scoring {perSide} {inName} test images (normal) and {perSide} {oodName} test images (anomalies)");

var ml = new MLContext(seed: 1);
var options = new ProbabilisticCircuitAnomalyOptions
{
    RegionGraph = RegionGraphKind.QuadGraph, Layer = LayerKind.CP, Units = 8, MaxEpochs = epochs, LearningRate = 0.01, BatchSize = 128,
    ThresholdQuantile = 0.95, EpochCompleted = e => Console.WriteLine($"  epoch {e.Epoch}: validation bpd {e.ValidBitsPerDimension:F4}"),
};
using var detector = ml.AnomalyDetection.Trainers.ProbabilisticCircuit(options).Fit(ml.Data.LoadFromEnumerable(Rows(train, 0f)));
string codec = detector.AnomalyScore is AnomalyScore.InputComplexity or AnomalyScore.LocalComplexity ? $" ({detector.ComplexityCodec})" : "";
Console.WriteLine($"score: {detector.AnomalyScore}{codec}; threshold (0.95 quantile of the training scores): {detector.Threshold:F4}");

var testRows = Rows(normalTest, 0f).Concat(Rows(anomalyTest, 1f)).ToList();
var scored = detector.Transform(ml.Data.LoadFromEnumerable(testRows));
var metrics = ml.AnomalyDetection.Evaluate(scored);
Console.WriteLine($"AnomalyDetection.Evaluate: AUC {metrics.AreaUnderRocCurve:F4}; detection rate at 10 false positives {metrics.DetectionRateAtFalsePositiveCount:F4} " +
    "(the fraction of anomalies scored above the 10th most anomalous normal image)");
var predicted = scored.GetColumn<bool>("PredictedLabel").ToArray();
int flaggedNormal = predicted.Take(perSide).Count(p => p), flaggedAnomalies = predicted.Skip(perSide).Count(p => p);
Console.WriteLine($"at the threshold: {flaggedAnomalies} of {perSide} anomalies flagged, {flaggedNormal} of {perSide} normal images flagged");

var scores = scored.GetColumn<float>("Score").ToArray();
var order = Enumerable.Range(0, scores.Length).OrderBy(i => scores[i]).ToArray();
WriteGrid(output, i => i < perSide ? normalTest.Image(i) : anomalyTest.Image(i - perSide), i => i >= perSide, order[..10], order[^10..]);
Console.WriteLine($"wrote {output}: top row the 10 least anomalous test images, bottom row the 10 most anomalous (red frame: {oodName}, green: {inName})");
return 0;

static IEnumerable<Image> Rows(ImageDataset images, float label) =>
    Enumerable.Range(0, images.Count).Select(i => new Image { Pixels = images.Image(i).ToArray().Select(b => (float)b).ToArray(), Label = label });

static void WriteGrid(string path, Func<int, ReadOnlySpan<byte>> image, Func<int, bool> isAnomaly, int[] top, int[] bottom)
{
    const int scale = 3, side = 28 * scale, frame = 3, cell = side + 2 * frame, gap = 4;
    using var bitmap = new SKBitmap(10 * (cell + gap) + gap, 2 * (cell + gap) + gap);
    using var canvas = new SKCanvas(bitmap);
    canvas.Clear(SKColors.White);
    foreach (var (row, indices) in new[] { (0, top), (1, bottom) })
        for (int k = 0; k < indices.Length; k++)
        {
            int x0 = gap + k * (cell + gap), y0 = gap + row * (cell + gap);
            using (var border = new SKPaint { Color = isAnomaly(indices[k]) ? new SKColor(220, 30, 30) : new SKColor(30, 160, 60) })
                canvas.DrawRect(x0, y0, cell, cell, border);
            var pixels = image(indices[k]);
            for (int p = 0; p < 784; p++)
            {
                byte v = pixels[p];
                using var paint = new SKPaint { Color = new SKColor(v, v, v) };
                canvas.DrawRect(x0 + frame + (p % 28) * scale, y0 + frame + (p / 28) * scale, scale, scale, paint);
            }
        }
    using var snapshot = SKImage.FromBitmap(bitmap);
    using var png = snapshot.Encode(SKEncodedImageFormat.Png, 100);
    File.WriteAllBytes(path, png.ToArray());
}

sealed class Image
{
    [VectorType(1, 28, 28)] public float[] Pixels { get; set; } = [];
    public float Label { get; set; }
}
