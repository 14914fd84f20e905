using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits;

/// <summary>Parses device names (<c>cpu</c>, <c>cuda</c>, <c>cuda:N</c>) and refuses CUDA where it is not available.</summary>
internal static class ComputeDevice
{
    /// <summary>How to get a CUDA-enabled libtorch, for error messages.</summary>
    public const string CudaHelp =
        "This build references the CPU libtorch (libtorch-cpu-linux-x64). On a machine with an NVIDIA GPU, make TorchSharp load a CUDA " +
        "libtorch instead: install PyTorch with CUDA (pip install torch) and set " +
        "LD_LIBRARY_PATH=$(python3 -c \"import torch,os;print(os.path.join(os.path.dirname(torch.__file__),'lib'))\") before running; see docs/gpu.md.";

    /// <summary>True when TorchSharp can use a CUDA device.</summary>
    public static bool CudaAvailable
    {
        get
        {
            try { return torch.cuda.is_available(); }
            catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or NotSupportedException) { return false; }
        }
    }

    /// <summary>
    /// Parses <paramref name="name"/>: <c>cpu</c>, <c>cuda</c> (= <c>cuda:0</c>) or <c>cuda:N</c>. CUDA names fail with an
    /// <see cref="ArgumentException"/> that says how to provide a CUDA libtorch when no CUDA device is available —
    /// there is never a silent fall-back to the CPU.
    /// </summary>
    public static Device Parse(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        string text = name.Trim().ToLowerInvariant();
        if (text == "cpu") return torch.CPU;
        int index = 0;
        if (text != "cuda" && !(text.StartsWith("cuda:", StringComparison.Ordinal)
                                && int.TryParse(text.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out index)))
            throw new ArgumentException($"Unknown device '{name}'; expected cpu, cuda or cuda:N.", nameof(name));
        if (!CudaAvailable)
            throw new ArgumentException($"Device '{name}' was requested but no CUDA device is available. {CudaHelp}", nameof(name));
        int count = torch.cuda.device_count();
        if (index >= count)
            throw new ArgumentException($"Device '{name}' was requested but only {count} CUDA device(s) exist (cuda:0..cuda:{count - 1}).", nameof(name));
        return torch.device(DeviceType.CUDA, index);
    }

    /// <summary>The canonical name of a device (<c>cpu</c>, <c>cuda:0</c>).</summary>
    public static string NameOf(Device device) => device.type == DeviceType.CUDA ? $"cuda:{Math.Max(device.index, 0)}" : "cpu";

    /// <summary>Waits for queued work on <paramref name="device"/> (for timing).</summary>
    public static void Synchronize(Device device)
    {
        if (device.type == DeviceType.CUDA) torch.cuda.synchronize(device);
    }
}
