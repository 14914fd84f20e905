using System.CommandLine;
using Microsoft.ML.Circuits;

namespace Circuits.Cli;

/// <summary>Where a command computes: <c>--device cpu|cuda|cuda:N</c> or the original's <c>--gpu N</c>, and <c>--threads</c>.</summary>
internal sealed class DeviceOptions
{
    public Option<int?> Gpu { get; } = new("--gpu") { Description = "Use CUDA device N (same as --device cuda:N)" };
    public Option<string?> Device { get; } = new("--device") { Description = "cpu | cuda | cuda:N (default cpu)" };
    public Option<int?> Threads { get; } = new("--threads") { Description = "CPU threads for TorchSharp (default: all cores)" };
    public Option<string?> Kernel { get; } = new("--kernel")
    {
        Description = "Layer kernels: auto | managed | native (native: the fused C++ kernels of src/Circuits.Native for CP, CP-S, CP-XS, Tucker and mixing layers on the CPU; auto: native where the library is available, managed for the scores of saved models; default: CIRCUITS_KERNEL, else auto)",
    };

    public void AddTo(Command command)
    {
        command.Add(Gpu);
        command.Add(Device);
        command.Add(Threads);
        command.Add(Kernel);
    }

    /// <summary>
    /// Applies <c>--threads</c> and <c>--kernel</c> (the preference of every circuit created or loaded afterwards) and
    /// returns the device; CUDA without a CUDA device is an error, never a fall-back, and so is <c>--kernel native</c>
    /// without the native library.
    /// </summary>
    public TorchSharp.torch.Device Resolve(ParseResult result)
    {
        if (result.GetValue(Kernel) is { } kernel)
        {
            if (!Enum.TryParse<LayerKernelPreference>(kernel, ignoreCase: true, out var preference) || !Enum.IsDefined(preference))
                throw new ArgumentException($"--kernel must be auto, managed or native, got '{kernel}'.");
            if (preference == LayerKernelPreference.Native && TensorizedCircuit.NativeKernelsUnavailable is { } reason)
                throw new ArgumentException($"--kernel native: {reason}.");
            Environment.SetEnvironmentVariable("CIRCUITS_KERNEL", preference.ToString().ToLowerInvariant());
        }
        if (result.GetValue(Threads) is { } threads)
        {
            if (threads < 1) throw new ArgumentException($"--threads must be at least 1, got {threads}.");
            TorchSharp.torch.set_num_threads(threads);
        }
        string? device = result.GetValue(Device);
        int? gpu = result.GetValue(Gpu);
        if (device is not null && gpu is not null)
            throw new ArgumentException("Give either --gpu or --device, not both.");
        if (gpu is < 0) throw new ArgumentException($"--gpu must be 0 or more, got {gpu}.");
        return ComputeDevice.Parse(device ?? (gpu is { } g ? $"cuda:{g}" : "cpu"));
    }
}
