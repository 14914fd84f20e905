using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Circuits;
using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Circuits.Cli;

/// <summary>
/// <c>bench-onnx</c>: scoring throughput of one circuit three ways in one run, on the same rows of the bundled MNIST
/// sample: the ML.NET transformer (TorchSharp; <c>Transform</c> and a cursor pass), the exported model in an ONNX
/// Runtime <c>InferenceSession</c> (batches of the same size), and the exported model in ML.NET's
/// <c>ApplyOnnxModel</c> (which runs ONNX Runtime one row at a time). Both runtimes get the same number of threads, and
/// their timed passes alternate; the ratio is the median of the per-pass ratios.
/// </summary>
internal static class BenchOnnxCommand
{
    sealed class Digit
    {
        [VectorType(784)] public float[] Pixels { get; set; } = [];
    }

    public static Command Create()
    {
        var circuit = new CircuitOptions();
        var rows = new Option<int>("--rows") { Description = "Rows to score", DefaultValueFactory = _ => 2004 };
        var batch = new Option<int>("--scoring-batch-size") { Description = "Rows per call (transformer batches and InferenceSession.Run)", DefaultValueFactory = _ => 256 };
        var repeats = new Option<int>("--repeats") { Description = "Timed passes (the median is reported)", DefaultValueFactory = _ => 3 };
        var threads = new Option<int?>("--threads") { Description = "Threads for TorchSharp and for ONNX Runtime (default: TorchSharp's, all cores)" };
        var allowSpinning = new Option<bool>("--ort-spinning") { Description = "Let ONNX Runtime's idle threads spin (its default; off here, like the engine's OpenMP tuning)" };
        var command = new Command("bench-onnx", "Rows per second: ML.NET transformer (TorchSharp) vs the exported ONNX model in ONNX Runtime and in ApplyOnnxModel.")
        {
            rows, batch, repeats, threads, allowSpinning,
        };
        circuit.AddTo(command);
        command.SetAction(result => Cli.Run(() =>
        {
            var description = circuit.Describe(result);
            var (n, b, r) = BenchTransformCommand.CheckRows("bench-onnx", description, result.GetValue(rows), result.GetValue(batch), result.GetValue(repeats));
            if (result.GetValue(threads) is { } t)
            {
                if (t < 1) throw new ArgumentException($"--threads must be at least 1, got {t}.");
                TorchSharp.torch.set_num_threads(t);
            }
            int threadCount = TorchSharp.torch.get_num_threads();
            bool spinning = result.GetValue(allowSpinning);

            var test = Datasets.Load("mnist").Test;
            var digits = Enumerable.Range(0, n).Select(i => new Digit { Pixels = test.Image(i % test.Count).ToArray().Select(v => (float)v).ToArray() }).ToList();
            var ml = new MLContext(seed: 1);
            var data = ml.Data.LoadFromEnumerable(digits);
            using var transformer = ProbabilisticCircuitTransformer.FromModel(ml, new CircuitModel(new TensorizedCircuit(description)), scoringBatchSize: b);
            string onnxPath = Path.Combine(Path.GetTempPath(), $"bench-onnx-{Guid.NewGuid():N}.onnx");
            try
            {
                transformer.ExportToOnnx(onnxPath);

                using var sessionOptions = new SessionOptions { IntraOpNumThreads = threadCount, InterOpNumThreads = 1 };
                // Idle intra-op threads wait passively, as the engine's process tuning makes libtorch's OpenMP threads do
                // (spinning threads steal the cores of the other runtime and of other processes on a small machine).
                sessionOptions.AddSessionConfigEntry("session.intra_op.allow_spinning", spinning ? "1" : "0");
                using var session = new InferenceSession(onnxPath, sessionOptions);
                void TorchPass() => Drain(transformer.Transform(data), "LogLikelihood");
                void OrtPass()
                {
                    for (int start = 0; start < n; start += b)
                    {
                        int count = Math.Min(b, n - start);
                        var pixels = new float[count * 784];
                        for (int i = 0; i < count; i++) digits[start + i].Pixels.CopyTo(pixels, i * 784);
                        using var outputs = session.Run([NamedOnnxValue.CreateFromTensor("pixels", new DenseTensor<float>(pixels, [count, 784]))]);
                        _ = outputs.First(o => o.Name == "log_likelihood").AsTensor<float>()[0];
                    }
                }
                // Alternate the two runtimes pass by pass, so that load from elsewhere on a shared machine hits both alike.
                TorchPass();
                OrtPass();
                var torchTimes = new List<double>();
                var ortTimes = new List<double>();
                for (int i = 0; i < r; i++)
                {
                    torchTimes.Add(Time(TorchPass));
                    ortTimes.Add(Time(OrtPass));
                }
                double torchSeconds = MedianOf(torchTimes), ortSeconds = MedianOf(ortTimes);
                double ratio = MedianOf([.. torchTimes.Select((t, i) => t / ortTimes[i])]);

                var applyOnnx = ml.Transforms.CopyColumns("pixels", "Pixels")
                    .Append(ml.Transforms.ApplyOnnxModel(["log_likelihood"], ["pixels"], onnxPath)).Fit(data);
                int applyRows = Math.Min(n, 500);
                var applyData = ml.Data.TakeRows(data, applyRows);
                double applySeconds = Median(r, () => DrainVector(applyOnnx.Transform(applyData), "log_likelihood"));
                (applyOnnx as IDisposable)?.Dispose();

                var c = CultureInfo.InvariantCulture;
                double torchRate = n / torchSeconds, ortRate = n / ortSeconds, applyRate = applyRows / applySeconds;
                Console.WriteLine($"passes (s): TorchSharp {string.Join(" ", torchTimes.Select(t => t.ToString("F3", c)))}; ONNX Runtime {string.Join(" ", ortTimes.Select(t => t.ToString("F3", c)))}");
                Console.WriteLine($"threads: {threadCount} (TorchSharp and ONNX Runtime {OrtEnv.Instance().GetVersionString()}, spinning {(spinning ? "on" : "off")}); model {new FileInfo(onnxPath).Length / 1048576.0:F1} MB");
                Console.WriteLine("| circuit | parameters | rows | batch | TorchSharp transformer rows/s | ONNX Runtime rows/s | ONNX Runtime / TorchSharp | ApplyOnnxModel rows/s (row by row) |");
                Console.WriteLine("|---|---|---|---|---|---|---|---|");
                Console.WriteLine(string.Format(c, "| {0} {1} K={2} | {3:N0} | {4} | {5} | {6:N0} | {7:N0} | {8:F2}× | {9:N0} |", Names.Of(description.RegionGraph),
                    Names.Of(description.Layer), description.Units, transformer.ParameterCount.Total, n, b, torchRate, ortRate, ratio, applyRate));
            }
            finally
            {
                File.Delete(onnxPath);
            }
        }));
        return command;
    }

    static void Drain(IDataView scored, string column)
    {
        using var cursor = scored.GetRowCursor([scored.Schema[column]]);
        var getter = cursor.GetGetter<float>(scored.Schema[column]);
        float value = 0;
        while (cursor.MoveNext()) getter(ref value);
    }

    static void DrainVector(IDataView scored, string column)
    {
        using var cursor = scored.GetRowCursor([scored.Schema[column]]);
        var getter = cursor.GetGetter<VBuffer<float>>(scored.Schema[column]);
        var value = default(VBuffer<float>);
        while (cursor.MoveNext()) getter(ref value);
    }

    static double Time(Action action)
    {
        var clock = Stopwatch.StartNew();
        action();
        return clock.Elapsed.TotalSeconds;
    }

    static double MedianOf(List<double> values)
    {
        values.Sort();
        return values[values.Count / 2];
    }

    static double Median(int repeats, Action action) => BenchTransformCommand.Median(repeats, action);
}
