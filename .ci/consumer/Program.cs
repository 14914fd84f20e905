// The consumer test's ML.NET program (.ci/consumer-test copies it into a new console project outside the repository
// that references the packages Microsoft.ML.Circuits and Microsoft.ML.Circuits.Data and nothing else).
//   fit  <idx-images.gz> <model.zip> <scores.txt>   pixels → ProbabilisticCircuit → Fit → Model.Save → score
//   load <idx-images.gz> <model.zip> <scores.txt>   Model.Load (in a fresh process) → score
//   sample                                          Datasets.Load("mnist"): the sample next to the program, if there
//   native                                          whether the package's native kernels load (exit 4 and why if not)
// Scores are the LogLikelihood column written with round-trip precision, so the two files must be identical.
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Circuits;
using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Data;

if (args is ["sample"])
{
    try
    {
        Console.WriteLine($"sample: {Datasets.Load("mnist").Test.Count} test images in {Datasets.BundledMnistPath()}");
        return 0;
    }
    catch (DirectoryNotFoundException e)
    {
        Console.WriteLine($"sample: none ({e.Message})");
        return 3;
    }
}
if (args is ["native"])
{
    string? reason = TensorizedCircuit.NativeKernelsUnavailable;
    Console.WriteLine($"native kernels: {reason ?? "available"}");
    return reason is null ? 0 : 4;
}
if (args.Length != 4 || args[0] is not ("fit" or "load"))
{
    Console.Error.WriteLine("usage: fit|load <idx-images.gz> <model.zip> <scores.txt> | sample | native");
    return 2;
}
var (mode, images, zip, output) = (args[0], args[1], args[2], args[3]);
var ml = new MLContext(seed: 1);
var data = ml.Data.LoadFromEnumerable(ReadIdxImages(images, count: 512));

ITransformer model;
if (mode == "fit")
{
    var pipeline = ml.Transforms.ProbabilisticCircuit(new ProbabilisticCircuitOptions
    {
        RegionGraph = RegionGraphKind.QuadTree, Layer = LayerKind.CP, Units = 4, MaxEpochs = 1, BatchSize = 128, LearningRate = 0.1,
    });
    model = pipeline.Fit(data);
    ml.Model.Save(model, data.Schema, zip);
}
else
{
    model = ml.Model.Load(zip, out _);
}

float[] logLikelihoods = model.Transform(data).GetColumn<float>("LogLikelihood").ToArray();
if (logLikelihoods.Length != 512 || logLikelihoods.Any(v => !float.IsFinite(v) || v >= 0))
{
    Console.Error.WriteLine($"{mode}: expected 512 finite, negative log-likelihoods; got {logLikelihoods.Length}, e.g. {string.Join(", ", logLikelihoods.Take(5))}");
    return 1;
}
File.WriteAllLines(output, logLikelihoods.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
Console.WriteLine($"{mode}: {logLikelihoods.Length} images, mean log-likelihood {logLikelihoods.Average():F3} nats");
return 0;

// The first `count` images of an IDX image file, as 784 Single pixel values 0..255 each.
static IEnumerable<ImageRow> ReadIdxImages(string path, int count)
{
    var (available, rows, columns, pixels) = IdxFile.ReadImages(path);
    if (rows * columns != 784 || available < count) throw new InvalidDataException($"{path}: expected at least {count} 28×28 images.");
    return Enumerable.Range(0, count)
        .Select(i => new ImageRow { Pixels = pixels.AsSpan(i * 784, 784).ToArray().Select(p => (float)p).ToArray() })
        .ToList();
}

sealed class ImageRow
{
    [VectorType(784)]
    public float[] Pixels { get; set; } = [];
}
