// Scores MNIST digits in an ML.NET pipeline with a circuit exported to ONNX (ApplyOnnxModel).
//   dotnet run --project examples/OnnxMLNet -c Release -- model.onnx [images.idx[.gz]] [rows]
// The model's 'pixels' input must be float with 784 values per image: [N, 784] (export-onnx --shape flat, what a
// transformer's own ExportToOnnx writes) or [N, 1, 28, 28] (the default).
using Circuits.Examples;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

if (args.Length < 1)
{
    Console.Error.WriteLine("usage: OnnxMLNet model.onnx [images.idx[.gz]] [rows]");
    return 2;
}
string modelPath = args[0];
var (count, rows, cols, pixels) = MnistImages.Read(args.Length > 1 ? args[1] : MnistImages.DefaultPath);
int take = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 1000;
if (rows * cols != Digit.Size) throw new InvalidDataException($"This example reads 28×28 digits; the images are {rows}×{cols}.");

using (var probe = new InferenceSession(modelPath))
{
    var input = probe.InputMetadata["pixels"];
    if (input.ElementDataType != TensorElementType.Float)
        throw new InvalidDataException($"{modelPath} takes {input.ElementDataType} pixels; this example feeds ML.NET float vectors (export with --pixel-type float).");
}

var ml = new MLContext(seed: 1);
var digits = Enumerable.Range(0, Math.Min(take, count))
    .Select(i => new Digit { Pixels = pixels.AsSpan(i * Digit.Size, Digit.Size).ToArray().Select(b => (float)b).ToArray() });
var data = ml.Data.LoadFromEnumerable(digits);

// The ONNX model's input is called 'pixels'; its outputs 'log_likelihood' and 'bits_per_dimension' (and, for an
// exported anomaly detector, 'score' and 'predicted_label') become columns of the same names.
var pipeline = ml.Transforms.ApplyOnnxModel(outputColumnNames: ["log_likelihood", "bits_per_dimension"], inputColumnNames: ["pixels"], modelFile: modelPath);
var model = pipeline.Fit(data);
var scored = model.Transform(data);
var ll = scored.GetColumn<float[]>("log_likelihood").Select(v => v[0]).ToArray();
var bpd = scored.GetColumn<float[]>("bits_per_dimension").Select(v => v[0]).ToArray();
for (int i = 0; i < Math.Min(5, ll.Length); i++)
    Console.WriteLine($"  image {i}: log-likelihood {ll[i]:F2} nats, {bpd[i]:F4} bits/dim");
Console.WriteLine($"{ll.Length} images through ApplyOnnxModel: mean log-likelihood {ll.Average():F2} nats, mean {bpd.Average():F4} bits/dim");
(model as IDisposable)?.Dispose();
return 0;

sealed class Digit
{
    public const int Size = 784;

    [ColumnName("pixels"), VectorType(Size)] public float[] Pixels { get; set; } = [];
}
