using System.Globalization;
using Microsoft.ML.Circuits;
using Microsoft.ML.Circuits.Structure;

namespace Circuits.Cli;

/// <summary>
/// The memory check of the computing commands: an estimate from the plan refuses what obviously cannot fit before
/// any tensor is allocated, and <see cref="Cli.Run"/> turns libtorch's out-of-memory failures into one line that
/// repeats the configuration recorded here.
/// </summary>
internal static class Memory
{
    /// <summary>What the command is computing, for an out-of-memory message (null before a command records one).</summary>
    public static string? Configuration { get; private set; }

    /// <summary>Records the configuration and refuses it when training it with <paramref name="batchSize"/> cannot fit.</summary>
    public static void RequireTrainingFits(CircuitDescription description, int batchSize, TorchSharp.torch.Device device)
    {
        var plan = CircuitPlanner.Build(description);
        var count = ParameterCount.Of(plan, description);
        long weights = CircuitMemory.WeightBytes(count), training = CircuitMemory.TrainingBytes(plan, count, batchSize);
        var c = CultureInfo.InvariantCulture;
        Configuration = $"{description}: {count.Total.ToString("N0", c)} parameters ({CircuitMemory.Bytes(weights)} of weights), " +
                        $"at least {CircuitMemory.Bytes(training)} to train with --batch-size {batchSize}";
        if (CircuitMemory.Available(device) is { } available && training > available)
            throw new ArgumentException(
                $"{Configuration}, but {CircuitMemory.Bytes(available)} of memory is available. " +
                "Reduce --k (and --k-in, --rank), --batch-size, or choose a smaller region graph (--rg).");
    }

    /// <summary>The one-line message for an out-of-memory failure of libtorch or .NET.</summary>
    public static string OutOfMemoryMessage(Exception e) =>
        $"out of memory ({CircuitMemory.FirstLine(e)})" +
        (Configuration is null ? "" : $"; {Configuration}") +
        ". Reduce --k (and --k-in, --rank), --batch-size, or choose a smaller region graph (--rg).";
}
