using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Data;

namespace Microsoft.ML.Circuits.Tests.MLNet;

/// <summary>MNIST sample rows as ML.NET data.</summary>
internal static class MLNetData
{
    public sealed class Digit
    {
        [VectorType(1, 28, 28)] public float[] Pixels { get; set; } = [];
        /// <summary>1 for an anomaly, 0 otherwise (ML.NET's anomaly evaluator reads a Single label).</summary>
        public float Label { get; set; }
    }

    public sealed class FlatDigit
    {
        [VectorType(784)] public float[] Pixels { get; set; } = [];
    }

    public sealed class ByteDigit
    {
        [VectorType(784)] public byte[] Pixels { get; set; } = [];
    }

    public sealed class Scores
    {
        public float LogLikelihood { get; set; }
        public float BitsPerDimension { get; set; }
    }

    static readonly Lazy<DatasetSplits> Mnist = new(() => Datasets.Load("mnist"));

    public static ImageDataset Train => Mnist.Value.Train;

    public static ImageDataset Test => Mnist.Value.Test;

    public static List<Digit> Digits(ImageDataset source, int count, float scale = 1f, Func<int, bool>? label = null) =>
        Enumerable.Range(0, count).Select(i => new Digit
        {
            Pixels = source.Image(i).ToArray().Select(b => b * scale).ToArray(),
            Label = label?.Invoke(source.Label(i)) == true ? 1f : 0f,
        }).ToList();

    public static ProbabilisticCircuitOptions SmallOptions() => new()
    {
        RegionGraph = RegionGraphKind.QuadTree, Units = 2, MaxEpochs = 2, BatchSize = 64, LearningRate = 0.1,
    };

    public static string TempFolder()
    {
        string folder = Path.Combine(Path.GetTempPath(), "circuits-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        return folder;
    }

    public static float[] Column(IDataView data, string name) => data.GetColumn<float>(name).ToArray();

    /// <summary>The first <paramref name="count"/> test digits as flat 784-vectors.</summary>
    public static List<FlatDigit> FlatDigits(int count) =>
        Enumerable.Range(0, count).Select(i => new FlatDigit { Pixels = Test.Image(i).ToArray().Select(b => (float)b).ToArray() }).ToList();

    /// <summary>Writes the first <paramref name="count"/> test digits as an IDX image file (for the fresh-process checks).</summary>
    public static string WriteTestImages(string folder, int count)
    {
        string path = Path.Combine(folder, "images.idx");
        IdxFile.WriteImages(path, count, 28, 28, Enumerable.Range(0, count).SelectMany(i => Test.Image(i).ToArray()).ToArray());
        return path;
    }

    /// <summary>A small QG-Tucker transformer fitted on <paramref name="rows"/> training digits.</summary>
    public static ProbabilisticCircuitTransformer FitSmallTucker(MLContext ml, IDataView data, int epochs)
    {
        var options = SmallOptions();
        options.RegionGraph = RegionGraphKind.QuadGraph;
        options.Layer = LayerKind.Tucker;
        options.MaxEpochs = epochs;
        return ml.Transforms.ProbabilisticCircuit(options).Fit(data);
    }
}
