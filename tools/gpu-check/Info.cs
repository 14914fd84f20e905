using TorchSharp;

namespace GpuCheck;

/// <summary><c>gpu-check info</c>: what TorchSharp (with the libtorch that LD_LIBRARY_PATH chose) sees.</summary>
internal static class Info
{
    /// <summary>Exit code 0 with CUDA, 3 without it (or when libtorch does not load).</summary>
    public static int Run()
    {
        Console.Out.WriteLine($"TorchSharp {typeof(torch).Assembly.GetName().Version}");
        try
        {
            bool cuda = torch.cuda.is_available();
            Console.Out.WriteLine($"cuda available: {(cuda ? "yes" : "no")}");
            if (!cuda) return 3;
            int count = torch.cuda.device_count();
            Console.Out.WriteLine($"cuda devices: {count}");
            // A tensor round trip: the CUDA libraries load and compute, not only report a device.
            using var x = torch.arange(1, 5, dtype: torch.float32, device: torch.CUDA);
            float sum = (x * x).sum().cpu().item<float>();
            Console.Out.WriteLine($"cuda tensor check: sum of squares of 1..4 = {sum} ({(sum == 30 ? "ok" : "WRONG")})");
            return sum == 30 ? 0 : 1;
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or NotSupportedException or System.Runtime.InteropServices.ExternalException)
        {
            Console.Out.WriteLine($"cuda available: no (libtorch did not load: {e.GetBaseException().Message.Split('\n')[0]})");
            return 3;
        }
    }
}
