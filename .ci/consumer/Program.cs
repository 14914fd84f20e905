// The consumer test's ML.NET program (.ci/consumer-test copies it into a new console project outside the repository
// that references the Microsoft.ML.Circuits package and nothing else).
//   fit  <idx-images.gz> <model.zip> <scores.txt>   pixels → ProbabilisticCircuit → Fit → Model.Save → score
//   load <idx-images.gz> <model.zip> <scores.txt>   Model.Load (in a fresh process) → score
// Scores are the LogLikelihood column written with round-trip precision, so the two files must be identical.
using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using Microsoft.ML;
using Microsoft.ML.Circuits;
using Microsoft.ML.Data;

if (args.Length != 4 || args[0] is not ("fit" or "load"))
{
    Console.Error.WriteLine("usage: fit|load <idx-images.gz> <model.zip> <scores.txt>");
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

// The first `count` images of a gzipped IDX image file (magic 0x00000803, count, rows, columns, then bytes).
static IEnumerable<ImageRow> ReadIdxImages(string path, int count)
{
    using var stream = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
    var header = new byte[16];
    stream.ReadExactly(header);
    if (BinaryPrimitives.ReadInt32BigEndian(header) != 0x803) throw new InvalidDataException($"{path} is not an IDX image file.");
    int size = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(8)) * BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(12));
    if (size != 784) throw new InvalidDataException($"{path}: expected 28×28 images, got {size} pixels.");
    var rows = new List<ImageRow>(count);
    var pixels = new byte[size];
    for (int i = 0; i < count; i++)
    {
        stream.ReadExactly(pixels);
        rows.Add(new ImageRow { Pixels = pixels.Select(p => (float)p).ToArray() });
    }
    return rows;
}

sealed class ImageRow
{
    [VectorType(784)]
    public float[] Pixels { get; set; } = [];
}
