// Scores MNIST digits with a circuit exported to ONNX, using ONNX Runtime only.
//   dotnet run --project examples/OnnxScoring -c Release -- model.onnx [images.idx[.gz]] [batch size]
// The model's 'pixels' input may be float or uint8, [N, 1, 28, 28], [N, 28, 28, 1] or [N, 784] (export-onnx flags).
using System.Diagnostics;
using Circuits.Examples;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

if (args.Length < 1)
{
    Console.Error.WriteLine("usage: OnnxScoring model.onnx [images.idx[.gz]] [batch size]");
    return 2;
}
string modelPath = args[0];
string imagesPath = args.Length > 1 ? args[1] : MnistImages.DefaultPath;
int batchSize = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 256;

using var session = new InferenceSession(modelPath);
var input = session.InputMetadata["pixels"];
int[] dims = input.Dimensions;
bool isByte = input.ElementDataType == TensorElementType.UInt8;
int imageSize = dims.Skip(1).Aggregate(1, (a, b) => a * b);
var (count, rows, cols, pixels) = MnistImages.Read(imagesPath);
if (imageSize != rows * cols)
    throw new InvalidDataException($"The model's 'pixels' input is [{string.Join(", ", dims)}] but the images are {rows}×{cols}.");
Console.WriteLine($"model: {modelPath}");
foreach (var (key, value) in session.ModelMetadata.CustomMetadataMap.Where(kv => kv.Key != "circuit_description"))
    Console.WriteLine($"  {key} = {value}");
Console.WriteLine($"  pixels {input.ElementDataType} [{string.Join(", ", dims.Select(d => d < 0 ? "N" : d.ToString()))}]; outputs {string.Join(", ", session.OutputMetadata.Keys)}");

double totalLl = 0, totalBpd = 0;
int anomalies = 0;
bool hasLabel = session.OutputMetadata.ContainsKey("predicted_label");
var firstRows = new List<string>();
var clock = Stopwatch.StartNew();
for (int start = 0; start < count; start += batchSize)
{
    int n = Math.Min(batchSize, count - start);
    int[] shape = [n, .. dims.Skip(1)];
    var batch = pixels.AsMemory(start * imageSize, n * imageSize);
    NamedOnnxValue value = isByte
        ? NamedOnnxValue.CreateFromTensor("pixels", new DenseTensor<byte>(batch.ToArray(), shape))
        : NamedOnnxValue.CreateFromTensor("pixels", new DenseTensor<float>(batch.ToArray().Select(b => (float)b).ToArray(), shape));
    using var results = session.Run([value]);
    var ll = results.First(r => r.Name == "log_likelihood").AsEnumerable<float>().ToArray();
    var bpd = results.First(r => r.Name == "bits_per_dimension").AsEnumerable<float>().ToArray();
    var label = hasLabel ? results.First(r => r.Name == "predicted_label").AsEnumerable<bool>().ToArray() : null;
    for (int i = 0; i < n; i++)
    {
        totalLl += ll[i];
        totalBpd += bpd[i];
        if (label?[i] == true) anomalies++;
        if (firstRows.Count < 5) firstRows.Add($"  image {start + i}: log-likelihood {ll[i]:F2} nats, {bpd[i]:F4} bits/dim{(label is null ? "" : $", anomaly {label[i]}")}");
    }
}
double seconds = clock.Elapsed.TotalSeconds;
firstRows.ForEach(Console.WriteLine);
Console.WriteLine($"{count} images: mean log-likelihood {totalLl / count:F2} nats, mean {totalBpd / count:F4} bits/dim" +
    (hasLabel ? $", {anomalies} predicted anomalous" : "") + $"; {count / seconds:N0} images/s");
return 0;
