using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.ML.Circuits.Structure;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits;

/// <summary>
/// Memory a circuit needs, estimated from its plan before any tensor is allocated, and recognition of libtorch's
/// out-of-memory failures (which arrive as an <see cref="ExternalException"/> carrying a native stack trace).
/// </summary>
internal static class CircuitMemory
{
    /// <summary>Bytes of the weights (float32).</summary>
    public static long WeightBytes(ParameterCount count) => Saturating(count.Total, sizeof(float));

    /// <summary>
    /// A lower bound on the bytes training needs: the weights five times (weights, gradients, Adam's two moments, the
    /// best checkpoint) plus, per image of a batch, every layer's output twice (kept for the backward pass, and its
    /// gradient).
    /// </summary>
    public static long TrainingBytes(CircuitPlan plan, ParameterCount count, int batchSize)
    {
        long perImage = (long)plan.Variables * plan.InputUnits;
        foreach (var layer in plan.Layers) perImage = Add(perImage, Saturating(layer.Folds, layer.OutputUnits));
        long activations = Saturating(Saturating(perImage, batchSize), 2 * sizeof(float));
        return Add(Saturating(WeightBytes(count), 5), activations);
    }

    /// <summary>The memory available to this process on <paramref name="device"/>, or null where it is not known (CUDA).</summary>
    public static long? Available(Device device) =>
        device.type == TorchSharp.DeviceType.CPU ? GC.GetGCMemoryInfo().TotalAvailableMemoryBytes : null;

    /// <summary>
    /// Refuses to build a circuit whose weights alone exceed the memory of <paramref name="device"/> (where it is
    /// known), before libtorch tries to allocate them.
    /// </summary>
    /// <exception cref="ArgumentException">The weights cannot fit.</exception>
    public static void RequireWeightsFit(CircuitDescription description, ParameterCount count, Device device)
    {
        long needed = WeightBytes(count);
        if (Available(device) is { } available && needed > available)
            throw new ArgumentException(
                $"{description} has {count.Total.ToString("N0", CultureInfo.InvariantCulture)} parameters: its weights alone need {Bytes(needed)}, " +
                $"but {Bytes(available)} of memory is available. Reduce Units (K), InputUnits or Rank, or choose a smaller region graph.",
                nameof(description));
    }

    /// <summary>True for libtorch's CPU or CUDA allocation failures and .NET's <see cref="OutOfMemoryException"/>.</summary>
    public static bool IsOutOfMemory(Exception e) => e switch
    {
        OutOfMemoryException => true,
        ExternalException x => x.Message.Contains("DefaultCPUAllocator", StringComparison.Ordinal)
            || x.Message.Contains("out of memory", StringComparison.OrdinalIgnoreCase)
            || x.Message.Contains("can't allocate memory", StringComparison.OrdinalIgnoreCase)
            || x.Message.Contains("not enough memory", StringComparison.OrdinalIgnoreCase),
        _ => false,
    };

    /// <summary>The first line of a libtorch message, without the native stack that follows it.</summary>
    public static string FirstLine(Exception e)
    {
        string message = e.Message.Trim();
        int end = message.IndexOfAny(['\n', '\r']);
        string line = end < 0 ? message : message[..end];
        return line.Length > 300 ? line[..300] + "…" : line;
    }

    /// <summary>A byte count in GB (or MB below 1 GB), e.g. <c>52.3 GB</c>.</summary>
    public static string Bytes(long bytes) => bytes >= 1L << 30
        ? (bytes / (double)(1L << 30)).ToString("N1", CultureInfo.InvariantCulture) + " GB"
        : (bytes / (double)(1L << 20)).ToString("N1", CultureInfo.InvariantCulture) + " MB";

    static long Saturating(long a, long b) => a != 0 && b > long.MaxValue / a ? long.MaxValue : a * b;

    static long Add(long a, long b) => a > long.MaxValue - b ? long.MaxValue : a + b;
}
