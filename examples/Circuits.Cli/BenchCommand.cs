using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Microsoft.ML.Circuits;
using Microsoft.ML.Circuits.Queries;
using Microsoft.ML.Circuits.Semirings;
using Microsoft.ML.Circuits.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Cli;

/// <summary>
/// <c>bench</c>: the performance protocol of docs/benchmarks.md. Random pixels in 0..255; warm-up steps; then the
/// median over timed steps of the trainer's own training step (log c(x) − log Z, backward, the step's one host
/// synchronisation, Adam, clamp) and of one forward pass (log c(x), no gradients); the kernel that computed the layers,
/// host synchronisations per step, images per second, the process's peak memory.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var circuit = new CircuitOptions();
        var batchSize = new Option<int>("--batch-size") { Description = "Images per step", DefaultValueFactory = _ => 256 };
        var steps = new Option<int>("--steps") { Description = "Timed steps (the median is reported)", DefaultValueFactory = _ => 20 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed warm-up steps", DefaultValueFactory = _ => 3 };
        var devices = new DeviceOptions();
        var command = new Command("bench", "Time training steps and forward passes of a circuit on random pixels.");
        circuit.AddTo(command);
        command.Add(batchSize); command.Add(steps); command.Add(warmup);
        devices.AddTo(command);
        command.SetAction(result => Cli.Run(() =>
        {
            var description = circuit.Describe(result);
            int b = result.GetValue(batchSize), n = result.GetValue(steps), w = result.GetValue(warmup);
            if (b < 1) throw new ArgumentException("--batch-size must be at least 1.");
            if (n < 1) throw new ArgumentException("--steps must be at least 1.");
            if (w < 0) throw new ArgumentException("--warmup must be 0 or more.");
            var target = devices.Resolve(result);
            var row = Run(description, b, n, w, target);
            Print(Console.Out, [row]);
        }));
        return command;
    }

    public sealed record Row(CircuitDescription Description, long Parameters, int BatchSize, string Device, string Kernel, double TrainMs,
        double HostSyncsPerStep, double ForwardMs, double PeakGiB);

    /// <summary>
    /// Times the trainer's own step (<see cref="TrainingStep"/>: loss, backward, one host read of the loss and the
    /// finiteness flags, Adam, clamp) and the forward pass the ML.NET scorer runs (log c(x), no gradients, no checks).
    /// </summary>
    public static Row Run(CircuitDescription description, int batchSize, int steps, int warmup, Device device)
    {
        using var circuit = new TensorizedCircuit(description, seed: 42, device: device);
        using var step = new TrainingStep(circuit, new TrainerOptions { LearningRate = 0.01 });
        using var generator = new Generator(7, torch.CPU);
        using var cpu = torch.randint(0, description.Categories, [batchSize, description.Variables, description.Channels], ScalarType.Int64, generator: generator);
        using var x = cpu.to(device);

        var train = new List<double>();
        long syncsBefore = 0;
        for (int i = 0; i < warmup + steps; i++)
        {
            if (i == warmup) syncsBefore = step.HostSyncs;
            var clock = Stopwatch.StartNew();
            var (_, nonFinite) = step.Run(x, 0.01);
            ComputeDevice.Synchronize(device);
            if (nonFinite is not null) throw new InvalidOperationException($"The benchmark circuit diverged: {nonFinite} is not finite.");
            if (i >= warmup) train.Add(clock.Elapsed.TotalMilliseconds);
        }
        double syncs = (step.HostSyncs - syncsBefore) / (double)steps;
        var forward = new List<double>();
        using (torch.no_grad())
        {
            for (int i = 0; i < warmup + steps; i++)
            {
                var clock = Stopwatch.StartNew();
                using (var scope = NewDisposeScope())
                {
                    MarginalQuery.Upward(circuit, x, null, Semiring.LogSumExp, null);
                    ComputeDevice.Synchronize(device);
                }
                if (i >= warmup) forward.Add(clock.Elapsed.TotalMilliseconds);
            }
        }
        double peak = Process.GetCurrentProcess().PeakWorkingSet64 / (double)(1L << 30);
        string kernel = string.Join("+", circuit.Layers.Select(l => l.KernelName).Distinct());
        return new Row(description, circuit.ParameterCount.Total, batchSize, ComputeDevice.NameOf(device), kernel, Median(train), syncs, Median(forward), peak);
    }

    static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    public static void Print(TextWriter output, IEnumerable<Row> rows)
    {
        var c = CultureInfo.InvariantCulture;
        output.WriteLine($"process tuning: {ProcessTuning.Applied}");
        output.WriteLine("| region graph | layer | K | parameters | batch | device | kernel | train ms/step | host syncs/step | train images/s | forward ms | peak GiB (process) |");
        output.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in rows)
            output.WriteLine(string.Format(c, "| {0} | {1} | {2} | {3:N0} | {4} | {5} | {10} | {6:F1} | {11:F0} | {7:N0} | {8:F1} | {9:F2} |",
                Names.Of(r.Description.RegionGraph), Names.Of(r.Description.Layer) + (r.Description.Rank is { } rank && r.Description.Layer == LayerKind.UncollapsedCP ? $" R={rank}" : ""), r.Description.Units, r.Parameters, r.BatchSize, r.Device,
                r.TrainMs, r.BatchSize / (r.TrainMs / 1000), r.ForwardMs, r.PeakGiB, r.Kernel, r.HostSyncsPerStep));
    }
}
