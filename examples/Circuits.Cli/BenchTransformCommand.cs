using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Circuits;
using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Data;

namespace Circuits.Cli;

/// <summary>
/// <c>bench-transform</c>: throughput of the ML.NET transformer. Rows of the bundled MNIST sample go through
/// <c>Transform</c> and a full cursor pass that reads the log-likelihood column (batched scoring), and through a
/// <c>PredictionEngine</c> (one row per call). The circuit's weights are its initial ones: throughput does not depend
/// on training. Like every computing command it takes <c>--device</c>/<c>--gpu</c> and <c>--threads</c>.
/// </summary>
internal static class BenchTransformCommand
{
    sealed class Digit
    {
        [VectorType(1, 28, 28)] public float[] Pixels { get; set; } = [];
    }

    sealed class Scores
    {
        public float LogLikelihood { get; set; }
    }

    public static Command Create()
    {
        var circuit = new CircuitOptions();
        var rows = new Option<int>("--rows") { Description = "Rows to score", DefaultValueFactory = _ => 2004 };
        var batch = new Option<int>("--scoring-batch-size") { Description = "Rows per circuit call in Transform", DefaultValueFactory = _ => 256 };
        var repeats = new Option<int>("--repeats") { Description = "Timed passes (the median is reported)", DefaultValueFactory = _ => 3 };
        var devices = new DeviceOptions();
        var command = new Command("bench-transform", "Rows per second through the ML.NET transformer (Transform + cursor pass, and PredictionEngine).")
        {
            rows, batch, repeats,
        };
        circuit.AddTo(command);
        devices.AddTo(command);
        command.SetAction(result => Cli.Run(() =>
        {
            var description = circuit.Describe(result);
            var (n, b, r) = CheckRows("bench-transform", description, result.GetValue(rows), result.GetValue(batch), result.GetValue(repeats));
            var device = devices.Resolve(result);
            Memory.RequireTrainingFits(description, 1, device);
            var test = Datasets.Load("mnist").Test;
            var digits = Enumerable.Range(0, n).Select(i => new Digit { Pixels = test.Image(i % test.Count).ToArray().Select(v => (float)v).ToArray() }).ToList();
            var ml = new MLContext(seed: 1);
            var data = ml.Data.LoadFromEnumerable(digits);
            using var transformer = ProbabilisticCircuitTransformer.FromModel(ml, new CircuitModel(new TensorizedCircuit(description, device: device)), scoringBatchSize: b);

            double transformSeconds = Median(r, () =>
            {
                var scored = transformer.Transform(data);
                using var cursor = scored.GetRowCursor([scored.Schema["LogLikelihood"]]);
                var getter = cursor.GetGetter<float>(scored.Schema["LogLikelihood"]);
                float value = 0;
                while (cursor.MoveNext()) getter(ref value);
            });
            var engine = ml.Model.CreatePredictionEngine<Digit, Scores>(transformer);
            int engineRows = Math.Min(n, 500);
            double engineSeconds = Median(r, () => { for (int i = 0; i < engineRows; i++) engine.Predict(digits[i]); });
            var c = CultureInfo.InvariantCulture;
            Console.WriteLine("| circuit | parameters | rows | scoring batch | Transform + cursor rows/s | PredictionEngine rows/s |");
            Console.WriteLine("|---|---|---|---|---|---|");
            Console.WriteLine(string.Format(c, "| {0} {1} K={2} | {3:N0} | {4} | {5} | {6:N0} | {7:N0} |", Names.Of(description.RegionGraph), Names.Of(description.Layer),
                description.Units, transformer.ParameterCount.Total, n, b, n / transformSeconds, engineRows / engineSeconds));
        }));
        return command;
    }

    /// <summary>The checks the scoring benchmarks share: a 28×28 grayscale circuit (they score the MNIST sample) and positive counts.</summary>
    internal static (int Rows, int Batch, int Repeats) CheckRows(string command, CircuitDescription description, int rows, int batch, int repeats)
    {
        if (description.ImageHeight != 28 || description.ImageWidth != 28 || description.Channels != 1)
            throw new ArgumentException($"{command} scores the 28×28 MNIST sample: use --dataset mnist.", "--dataset");
        if (rows < 1 || batch < 1 || repeats < 1) throw new ArgumentException("--rows, --scoring-batch-size and --repeats must be at least 1.");
        return (rows, batch, repeats);
    }

    /// <summary>Runs <paramref name="action"/> once to warm up, then <paramref name="repeats"/> times; the median seconds.</summary>
    internal static double Median(int repeats, Action action)
    {
        action();
        var times = new List<double>();
        for (int i = 0; i < repeats; i++)
        {
            var clock = Stopwatch.StartNew();
            action();
            times.Add(clock.Elapsed.TotalSeconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }
}
