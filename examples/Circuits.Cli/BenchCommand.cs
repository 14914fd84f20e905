using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Microsoft.ML.Circuits;
using Microsoft.ML.Circuits.Kernels;
using Microsoft.ML.Circuits.Queries;
using Microsoft.ML.Circuits.Semirings;
using Microsoft.ML.Circuits.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Cli;

/// <summary>
/// <c>bench</c>: the performance protocol of docs/benchmarks.md. Random pixels in 0..255 (or, with <c>--images data</c>,
/// the dataset's first training images: real images can cost more, e.g. through subnormal floats); warm-up steps; then the
/// median over timed steps of the trainer's own training step (log c(x) − log Z, backward, the step's one host
/// synchronisation, Adam, clamp) and of one forward pass (log c(x), no gradients); the kernel that computed the layers,
/// host synchronisations per step, images per second, the process's peak memory, and the evaluation path (the
/// sum-product semiring the loss and the forward pass ran over). <c>--compare</c> times the log-sum-exp path and the
/// scaled-linear path in the same process, interleaved step by step on two identical circuits, and prints both and
/// their ratio.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var circuit = new CircuitOptions();
        var batchSize = new Option<int>("--batch-size") { Description = "Images per step", DefaultValueFactory = _ => 256 };
        var steps = new Option<int>("--steps") { Description = "Timed steps (the median is reported)", DefaultValueFactory = _ => 20 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed warm-up steps", DefaultValueFactory = _ => 3 };
        var semiring = new Option<string?>("--semiring") { Description = "Evaluation path of the loss and the forward pass: log-sum-exp | scaled-linear (default: the library's)" };
        var compare = new Option<bool>("--compare") { Description = "Time the log-sum-exp and the scaled-linear paths (on the managed kernels) back to back in one run and print their ratio" };
        var compareKernels = new Option<bool>("--compare-kernels")
        {
            Description = "Time the managed and the native layer kernels back to back in one run and print their ratios: on the log-sum-exp path, on the scaled-linear path (layers whose native kernel computes only log-sum-exp, Tucker and CP-S, run managed there), and the two paths on the native kernels",
        };
        var compareVariant = new Option<string?>("--compare-variant")
        {
            Description = "Time the native kernels without and with one of their variants back to back in one run and print the ratio: avx512 (the GEMM, exp and log on 8-float AVX2 vs 16-float AVX-512 vectors; needs a CPU with AVX-512F), fused-input (the input layer and the scaled-linear conversion in steps vs in one kernel), recompute-factors (the scaled-linear CP kernels' slot factors saved for the backward pass vs computed again there), slot-gradients (the scaled-linear CP backward pass in two passes, its slot gradients kept between its weight and input halves vs computed again in the input half), fused-backward (the scaled-linear CP backward pass in two passes, its weight half over the folds then its input half over the images, vs one pass over chunks of images), kernel-threads (the native kernels' ranges run through Parallel.For on the thread pool vs on the engine's own workers, which spin between calls) or deferred-gradients (the gradients of CP outputs that one mixing layer reads written by the mixing layer into a buffer vs computed by the CP layer where it uses them)",
        };
        var images = new Option<string>("--images")
        {
            Description = "Pixels of the timed batch: random (uniform in 0..255) or data (the first --batch-size training images of --dataset, from --data-dir or its default)",
            DefaultValueFactory = _ => "random",
        };
        var devices = new DeviceOptions();
        var data = new DataOptions();
        var command = new Command("bench", "Time training steps and forward passes of a circuit on random pixels (or the dataset's images).");
        circuit.AddTo(command);
        command.Add(batchSize); command.Add(steps); command.Add(warmup); command.Add(semiring); command.Add(compare); command.Add(compareKernels);
        command.Add(compareVariant); command.Add(images);
        devices.AddTo(command);
        data.AddTo(command);
        command.SetAction(result => Cli.Run(() =>
        {
            var description = circuit.Describe(result);
            int b = result.GetValue(batchSize), n = result.GetValue(steps), w = result.GetValue(warmup);
            if (b < 1) throw new ArgumentException("--batch-size must be at least 1.");
            if (n < 1) throw new ArgumentException("--steps must be at least 1.");
            if (w < 0) throw new ArgumentException("--warmup must be 0 or more.");
            if (result.GetValue(compare) && result.GetValue(semiring) is not null)
                throw new ArgumentException("Give either --compare (both paths) or --semiring (one path), not both.");
            if (result.GetValue(compareKernels) && (result.GetValue(compare) || result.GetValue(semiring) is not null || result.GetValue(devices.Kernel) is not null))
                throw new ArgumentException("--compare-kernels times both kernels on both paths: give it without --compare, --semiring or --kernel.");
            string? variant = result.GetValue(compareVariant);
            if (variant is not null && (result.GetValue(compare) || result.GetValue(compareKernels) || result.GetValue(devices.Kernel) is not null))
                throw new ArgumentException("--compare-variant times the native kernels with and without a variant: give it without --compare, --compare-kernels or --kernel.");
            if (variant is not null && TensorizedCircuit.NativeKernelsUnavailable is { } unavailable)
                throw new ArgumentException($"--compare-variant: {unavailable}.");
            var variants = variant is null ? null : Variants(variant);
            var path = ParseSemiring(result.GetValue(semiring));
            var target = devices.Resolve(result);
            Memory.RequireTrainingFits(description, b, target);
            string dataset = result.GetValue(circuit.Dataset)!;
            using var pixels = Pixels(result.GetValue(images)!, () => (dataset, data.Load(result, dataset, description).Train), b);
            Console.Out.WriteLine($"pixels: {(pixels is null ? "random, uniform in 0..255" : $"the first {b} training images of {dataset}")}");
            if (result.GetValue(compareKernels))
            {
                if (TensorizedCircuit.NativeKernelsUnavailable is { } reason) throw new ArgumentException($"--compare-kernels: {reason}.");
                // Native against managed on each path, then the two paths on the native kernels.
                var rows = Time(description, b, n, w, target, [(Semiring.LogSumExp, LayerKernelPreference.Managed),
                    (Semiring.LogSumExp, LayerKernelPreference.Native), (Semiring.ScaledLinear, LayerKernelPreference.Managed),
                    (Semiring.ScaledLinear, LayerKernelPreference.Native)], pixels);
                Print(Console.Out, rows);
                foreach (var (reference, candidate) in new[] { (0, 1), (2, 3), (1, 3) })
                {
                    Console.Out.WriteLine();
                    PrintRatio(Console.Out, rows[reference], rows[candidate]);
                }
                return;
            }
            if (variants is not null)
            {
                var rows = Time(description, b, n, w, target, [(path, LayerKernelPreference.Native), (path, LayerKernelPreference.Native)], pixels, variants);
                Print(Console.Out, rows);
                Console.Out.WriteLine();
                PrintRatio(Console.Out, rows[0], rows[1]);
                return;
            }
            if (result.GetValue(compare))
            {
                var rows = Compare(description, b, n, w, target, pixels);
                Print(Console.Out, rows);
                Console.Out.WriteLine();
                PrintRatio(Console.Out, rows[0], rows[1]);
                return;
            }
            var row = Run(description, b, n, w, target, path, pixels);
            Print(Console.Out, [row]);
        }));
        return command;
    }

    public sealed record Row(CircuitDescription Description, long Parameters, int BatchSize, string Device, string Kernel, double TrainMs,
        double HostSyncsPerStep, double ForwardMs, double PeakGiB, string Path = "log-sum-exp", double? TrainCpuMs = null, double? ForwardCpuMs = null,
        string Optimizer = "managed");

    /// <summary>The semiring named by <c>--semiring</c> (null: the circuit's default sum-product path).</summary>
    static Semiring? ParseSemiring(string? name) => name?.ToLowerInvariant() switch
    {
        null => null,
        "log-sum-exp" or "lse" or "log" => Semiring.LogSumExp,
        "scaled-linear" or "scaled" => Semiring.ScaledLinear,
        _ => throw new ArgumentException($"--semiring must be log-sum-exp or scaled-linear, got '{name}'."),
    };

    /// <summary>
    /// Times the trainer's own step (<see cref="TrainingStep"/>: loss, backward, one host read of the loss and the
    /// finiteness flags, Adam, clamp) and the forward pass the ML.NET scorer runs (log c(x), no gradients, no checks).
    /// </summary>
    public static Row Run(CircuitDescription description, int batchSize, int steps, int warmup, Device device, Semiring? semiring = null,
        Tensor? pixels = null) =>
        Time(description, batchSize, steps, warmup, device, [(semiring, null)], pixels)[0];

    /// <summary>
    /// The batch <c>--images</c> names: null for random pixels, else the first <paramref name="batchSize"/> training
    /// images of the dataset <paramref name="load"/> reads (B, D, C) on the CPU.
    /// </summary>
    static Tensor? Pixels(string images, Func<(string Name, Microsoft.ML.Circuits.Data.ImageDataset Train)> load, int batchSize)
    {
        switch (images.ToLowerInvariant())
        {
            case "random":
                return null;
            case "data":
                var (name, train) = load();
                if (train.Count < batchSize)
                    throw new ArgumentException($"--images data: {name} has {train.Count} training images, fewer than --batch-size {batchSize}.", "--batch-size");
                return train.Batch(0, batchSize);
            default:
                throw new ArgumentException($"--images {images} is not allowed; expected random or data.", "--images");
        }
    }

    /// <summary>
    /// <see cref="Run"/> for the log-sum-exp path and the scaled-linear path on the managed kernels (which compute
    /// both), interleaved step by step on two circuits built alike (so both see the same load on a shared machine):
    /// rows in that order.
    /// </summary>
    public static Row[] Compare(CircuitDescription description, int batchSize, int steps, int warmup, Device device, Tensor? pixels = null) =>
        Time(description, batchSize, steps, warmup, device, [(Semiring.LogSumExp, LayerKernelPreference.Managed), (Semiring.ScaledLinear, LayerKernelPreference.Managed)], pixels);

    /// <summary>
    /// Times each variant on its own circuit, interleaved: a path (null: the circuit's default, <see cref="Semiring.SumProductFor"/>)
    /// and a kernel preference (null: the process default, <c>--kernel</c> or <c>CIRCUITS_KERNEL</c>).
    /// </summary>
    /// <summary>A native kernel variant of <c>--compare-variant</c>: its name in the table and how to switch to it.</summary>
    sealed record NativeVariant(string Name, Action Select);

    /// <summary>The two settings <c>--compare-variant</c> times: without the variant, then with it.</summary>
    static NativeVariant[] Variants(string name) => name.ToLowerInvariant() switch
    {
        "avx512" => CircuitsNative.Avx512Available
            ? [new("8-float vectors", () => CircuitsNative.TrySetVectorWidth(8)), new("16-float vectors", () => CircuitsNative.TrySetVectorWidth(16))]
            : throw new ArgumentException("--compare-variant avx512: this CPU lacks AVX-512F, so the native kernels run on 8-float vectors only."),
        "fused-input" => [new("input in steps", () => TensorizedCircuit.FuseScaledInput = false), new("input fused", () => TensorizedCircuit.FuseScaledInput = true)],
        "recompute-factors" => [new("CP factors saved", () => CpScaledFunction.RecomputeFactors = false), new("CP factors recomputed", () => CpScaledFunction.RecomputeFactors = true)],
        "slot-gradients" => [new("CP slot gradients kept", () => (CpScaledFunction.FuseBackward, CpScaledFunction.KeepSlotGradients) = (false, true)),
            new("CP slot gradients recomputed", () => (CpScaledFunction.FuseBackward, CpScaledFunction.KeepSlotGradients) = (false, false))],
        "fused-backward" => [new("CP backward in two passes", () => CpScaledFunction.FuseBackward = false), new("CP backward fused", () => CpScaledFunction.FuseBackward = true)],
        "kernel-threads" => [new("kernel ranges on the thread pool", () => KernelWorkers.Use = false), new("kernel ranges on spinning workers", () => KernelWorkers.Use = true)],
        "deferred-gradients" => [new("mixing gradients written", () => DeferredGradient.Defer = false), new("mixing gradients deferred", () => DeferredGradient.Defer = true)],
        _ => throw new ArgumentException($"--compare-variant {name} is not allowed; expected avx512, fused-input, recompute-factors, slot-gradients, fused-backward, kernel-threads or deferred-gradients."),
    };

    /// <param name="settings">Per variant, the native setting switched on before each of its passes (null: the process's).</param>
    static Row[] Time(CircuitDescription description, int batchSize, int steps, int warmup, Device device,
        (Semiring? Path, LayerKernelPreference? Kernel)[] variants, Tensor? pixels = null, NativeVariant[]? settings = null)
    {
        int widthBefore = CircuitsNative.VectorWidth;
        bool fuseBefore = TensorizedCircuit.FuseScaledInput;
        bool? recomputeBefore = CpScaledFunction.RecomputeFactors, keepBefore = CpScaledFunction.KeepSlotGradients,
            fuseBackwardBefore = CpScaledFunction.FuseBackward, workersBefore = KernelWorkers.Use, deferBefore = DeferredGradient.Defer;
        void Prepare(int p) => settings?[p].Select();
        var circuits = variants.Select(v =>
        {
            var circuit = new TensorizedCircuit(description, seed: 42, device: device);
            if (v.Kernel is { } kernel) circuit.KernelPreference = kernel;
            return circuit;
        }).ToArray();
        var paths = variants.Select((v, i) => v.Path ?? Semiring.SumProductFor(circuits[i])).ToArray();
        var trainingSteps = paths.Select((p, i) => new TrainingStep(circuits[i], new TrainerOptions { LearningRate = 0.01 }, p)).ToArray();
        try
        {
            using var generator = new Generator(7, torch.CPU);
            using var cpu = pixels?.alias() ?? torch.randint(0, description.Categories, [batchSize, description.Variables, description.Channels], ScalarType.Int64, generator: generator);
            using var x = cpu.to(device);

            var train = paths.Select(_ => new List<double>()).ToArray();
            var trainCpu = paths.Select(_ => new List<double>()).ToArray();
            var syncsBefore = new long[paths.Length];
            for (int i = 0; i < warmup + steps; i++)
                foreach (int p in Order(paths.Length, i))
                {
                    var step = trainingSteps[p];
                    if (i == warmup) syncsBefore[p] = step.HostSyncs;
                    Prepare(p);
                    var clock = Stopwatch.StartNew();
                    double? cpuStart = ThreadClock.NowMs();
                    var (_, nonFinite) = step.Run(x, 0.01);
                    ComputeDevice.Synchronize(device);
                    if (nonFinite is not null) throw new InvalidOperationException($"The benchmark circuit diverged on the {paths[p]} path: {nonFinite} is not finite.");
                    if (i >= warmup)
                    {
                        train[p].Add(clock.Elapsed.TotalMilliseconds);
                        if (ThreadClock.NowMs() - cpuStart is { } used) trainCpu[p].Add(used);
                    }
                }
            var forward = paths.Select(_ => new List<double>()).ToArray();
            var forwardCpu = paths.Select(_ => new List<double>()).ToArray();
            using (torch.no_grad())
            {
                for (int i = 0; i < warmup + steps; i++)
                    foreach (int p in Order(paths.Length, i))
                    {
                        Prepare(p);
                        var clock = Stopwatch.StartNew();
                        double? cpuStart = ThreadClock.NowMs();
                        using (var scope = NewDisposeScope())
                        {
                            MarginalQuery.Upward(circuits[p], x, null, paths[p], null);
                            ComputeDevice.Synchronize(device);
                        }
                        if (i >= warmup)
                        {
                            forward[p].Add(clock.Elapsed.TotalMilliseconds);
                            if (ThreadClock.NowMs() - cpuStart is { } used) forwardCpu[p].Add(used);
                        }
                    }
            }
            double peak = Process.GetCurrentProcess().PeakWorkingSet64 / (double)(1L << 30);
            return [.. paths.Select((path, p) => new Row(description, circuits[p].ParameterCount.Total, batchSize, ComputeDevice.NameOf(device),
                string.Join("+", circuits[p].Layers.Select(l => l.KernelNameFor(path)).Distinct()) + (settings is null ? "" : $" ({settings[p].Name})"), Median(train[p]),
                (trainingSteps[p].HostSyncs - syncsBefore[p]) / (double)steps, Median(forward[p]), peak, path.Name,
                trainCpu[p].Count == steps ? Median(trainCpu[p]) : null, forwardCpu[p].Count == steps ? Median(forwardCpu[p]) : null,
                trainingSteps[p].OptimizerName))];
        }
        finally
        {
            if (settings is not null)
            {
                CircuitsNative.TrySetVectorWidth(widthBefore);
                TensorizedCircuit.FuseScaledInput = fuseBefore;
                CpScaledFunction.RecomputeFactors = recomputeBefore;
                CpScaledFunction.KeepSlotGradients = keepBefore;
                CpScaledFunction.FuseBackward = fuseBackwardBefore;
                KernelWorkers.Use = workersBefore;
                DeferredGradient.Defer = deferBefore;
            }
            foreach (var step in trainingSteps) step.Dispose();
            foreach (var circuit in circuits) circuit.Dispose();
        }
    }

    /// <summary>The order the paths run in step <paramref name="i"/>: alternating, so neither always runs first.</summary>
    static IEnumerable<int> Order(int count, int i) => i % 2 == 0 ? Enumerable.Range(0, count) : Enumerable.Range(0, count).Reverse();

    static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    public static void Print(TextWriter output, IEnumerable<Row> rows)
    {
        var c = CultureInfo.InvariantCulture;
        output.WriteLine($"process tuning: {ProcessTuning.Applied}");
        if (CircuitsNative.VectorWidth is var width and > 0)
            output.WriteLine($"native vectors (GEMM, exp, log): {width} floats ({(width == 16 ? "AVX-512" : $"AVX2{(CircuitsNative.Avx512Available ? $", {CircuitsNative.Avx512Switch}=0" : "")}")})");
        // The Adam of the training step follows the kernel preference: one native pass per parameter, or TorchSharp's.
        var optimizers = rows.Select(r => $"{r.Kernel} kernels: {(r.Optimizer == "native" ? "Adam native (one pass per parameter)" : "Adam managed (TorchSharp)")}").Distinct();
        output.WriteLine($"optimizer: {string.Join("; ", optimizers)}");
        output.WriteLine("| region graph | layer | K | parameters | batch | device | kernel | path | train ms/step | host syncs/step | train images/s | forward ms | peak GiB (process) |");
        output.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in rows)
            output.WriteLine(string.Format(c, "| {0} | {1} | {2} | {3:N0} | {4} | {5} | {10} | {12} | {6:F1} | {11:F0} | {7:N0} | {8:F1} | {9:F2} |",
                Names.Of(r.Description.RegionGraph), LayerName(r.Description), r.Description.Units, r.Parameters, r.BatchSize, r.Device,
                r.TrainMs, r.BatchSize / (r.TrainMs / 1000), r.ForwardMs, r.PeakGiB, r.Kernel, r.HostSyncsPerStep, r.Path));
    }

    static string LayerName(CircuitDescription d) =>
        Names.Of(d.Layer) + (d.Rank is { } rank && d.Layer == LayerKind.UncollapsedCP ? $" R={rank}" : "");

    /// <summary>
    /// The ratio table of <c>--compare</c>: the second path's medians over the first's (below 1: the second is faster),
    /// in wall-clock time and, where available, in the calling thread's CPU time (which a busy machine disturbs less;
    /// it is the whole work only with one TorchSharp thread, <c>--threads 1</c>).
    /// </summary>
    public static void PrintRatio(TextWriter output, Row reference, Row candidate)
    {
        var c = CultureInfo.InvariantCulture;
        // The variants are named by what differs between them: the path (--compare), the kernel, or both (--compare-kernels).
        bool samePath = reference.Path == candidate.Path, sameKernel = reference.Kernel == candidate.Kernel;
        string Name(Row r) => samePath ? r.Kernel : sameKernel ? r.Path : $"{r.Kernel} {r.Path}";
        string a = Name(reference), b = Name(candidate);
        output.WriteLine($"| region graph | layer | K | clock | train ms/step {a} | train ms/step {b} | train ratio | forward ms {a} | forward ms {b} | forward ratio |");
        output.WriteLine("|---|---|---|---|---|---|---|---|---|---|");
        void Line(string clock, double trainReference, double trainCandidate, double forwardReference, double forwardCandidate) =>
            output.WriteLine(string.Format(c, "| {0} | {1} | {2} | {3} | {4:F1} | {5:F1} | {6:F2} | {7:F1} | {8:F1} | {9:F2} |",
                Names.Of(reference.Description.RegionGraph), LayerName(reference.Description), reference.Description.Units, clock,
                trainReference, trainCandidate, trainCandidate / trainReference, forwardReference, forwardCandidate, forwardCandidate / forwardReference));
        Line("wall", reference.TrainMs, candidate.TrainMs, reference.ForwardMs, candidate.ForwardMs);
        if (reference.TrainCpuMs is { } rt && candidate.TrainCpuMs is { } ct && reference.ForwardCpuMs is { } rf && candidate.ForwardCpuMs is { } cf)
            Line("thread CPU", rt, ct, rf, cf);
    }
}
