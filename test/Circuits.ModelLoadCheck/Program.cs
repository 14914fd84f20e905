using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Data;

// Usage: Circuits.ModelLoadCheck <model.zip> <images-idx3-ubyte> <count> [--left-half-missing]
// Prints one line per image: the Single and Boolean columns the model adds, from Transform (a full cursor pass) and
// then from a PredictionEngine, as round-trip text. With --left-half-missing the left half of every image is NaN and
// vector columns the model adds are printed too (as "vector <name> v1 v2 …"); the PredictionEngine part is skipped.
if (args.Length is not (3 or 4) || (args.Length == 4 && args[3] != "--left-half-missing"))
{
    Console.Error.WriteLine("usage: Circuits.ModelLoadCheck <model.zip> <images-idx3-ubyte> <count> [--left-half-missing]");
    return 2;
}
bool leftHalfMissing = args.Length == 4;
var context = new MLContext(seed: 1);
var model = context.Model.Load(args[0], out var savedSchema);
var (count, rows, columns, pixels) = IdxFile.ReadImages(args[1]);
int n = Math.Min(count, int.Parse(args[2], CultureInfo.InvariantCulture));
var images = Enumerable.Range(0, n).Select(i => new Image
{
    Pixels = pixels.AsSpan(i * rows * columns, rows * columns).ToArray()
        .Select((b, j) => leftHalfMissing && j % columns < columns / 2 ? float.NaN : b).ToArray(),
}).ToList();
var data = context.Data.LoadFromEnumerable(images);
var scored = model.Transform(data);
var added = scored.Schema.Where(c => data.Schema.GetColumnOrNull(c.Name) is null || data.Schema[c.Name].Index != c.Index).ToList();
var vectors = added.Where(c => c.Type is VectorDataViewType).ToList();
added = added.Except(vectors).ToList();
Console.WriteLine("columns " + string.Join(" ", added.Concat(vectors).Select(c => $"{c.Name}:{c.Type}")));
using (var cursor = scored.GetRowCursor(added))
{
    var getters = added.Select(c => c.Type == BooleanDataViewType.Instance
        ? (Func<string>)(() => { bool v = false; cursor.GetGetter<bool>(c)(ref v); return v ? "true" : "false"; })
        : () => { float v = 0; cursor.GetGetter<float>(c)(ref v); return v.ToString("R", CultureInfo.InvariantCulture); }).ToList();
    while (cursor.MoveNext())
        Console.WriteLine("transform " + string.Join(" ", getters.Select(g => g())));
}
foreach (var column in vectors)
    foreach (var vector in scored.GetColumn<float[]>(column))
        Console.WriteLine($"vector {column.Name} " + string.Join(" ", vector.Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
if (leftHalfMissing) return 0;
var engine = context.Model.CreatePredictionEngine<Image, Prediction>(model);
foreach (var image in images)
{
    var p = engine.Predict(image);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"engine {p.LogLikelihood:R} {p.BitsPerDimension:R}"));
}
return 0;

sealed class Image
{
    [VectorType(784)] public float[] Pixels { get; set; } = [];
}

sealed class Prediction
{
    public float LogLikelihood { get; set; }
    public float BitsPerDimension { get; set; }
}
