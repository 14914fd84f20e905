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
}
