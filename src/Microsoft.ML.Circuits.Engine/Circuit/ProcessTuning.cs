using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Microsoft.ML.Circuits;

/// <summary>
/// Process-wide settings that measured faster on Linux (docs/benchmarks.md, "CPU runtime settings"), applied once when
/// the engine assembly is first used:
/// <list type="bullet">
/// <item>glibc malloc keeps freed blocks instead of returning them to the OS (<c>M_MMAP_MAX = 0</c>,
/// <c>M_TRIM_THRESHOLD</c> maximal): libtorch frees and re-allocates the same activation buffers every training step, and
/// glibc's default unmaps and page-faults them back each time (≈ 500,000 faults, half the step's time, at K = 64). The
/// process then keeps its peak heap size.</item>
/// <item>OpenMP threads never spin long (unless <c>OMP_WAIT_POLICY</c> or <c>GOMP_SPINCOUNT</c> is already set):
/// libgomp's default, about 3 ms of spinning after each parallel region, made two threads 4–12× slower than one on a
/// busy machine. When the machine is busy as the engine loads — other threads running or waiting for a CPU right then
/// on at least half the cores (the runnable count of <c>/proc/loadavg</c>, not its 1-minute average, which still counts
/// processes that have ended) — the workers wait passively (<c>OMP_WAIT_POLICY=PASSIVE</c>); otherwise they spin about 0.1 ms
/// (<c>GOMP_SPINCOUNT=10000</c>) before sleeping, which keeps back-to-back small operations — scoring one row, the
/// many small layers of a step — from paying a thread wake-up each (passive waiting cost scoring 2–3× on an idle
/// machine: docs/benchmarks.md). Either takes effect only if libtorch has not been loaded yet (set it yourself, before
/// starting the process, to be sure).</item>
/// </list>
/// Set <c>CIRCUITS_PROCESS_TUNING=0</c> to leave the process as it is. Other systems are left alone.
/// </summary>
internal static class ProcessTuning
{
    /// <summary>The environment variable that turns the tuning off (value <c>0</c>).</summary>
    public const string Switch = "CIRCUITS_PROCESS_TUNING";

    const int TrimThreshold = -1, MmapMax = -4;

    /// <summary>What was applied (for <c>bench</c> output): e.g. <c>malloc keep + OMP passive</c>, or <c>off</c>.</summary>
    public static string Applied { get; private set; } = "not applied";

    /// <summary>
    /// Whether threads of this process should wait passively rather than spin between calls: OpenMP's workers were told
    /// to (<c>OMP_WAIT_POLICY=PASSIVE</c>, by this tuning on a busy machine or by the user). The native kernels' own
    /// workers follow it (<see cref="Kernels.KernelWorkers"/>), so neither spins against other work.
    /// </summary>
    public static bool WaitsPassively { get; private set; }

#pragma warning disable CA2255 // A module initializer is the one place that runs before any tensor is allocated.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Apply()
    {
        try
        {
            Tune();
        }
        finally
        {
            WaitsPassively = Passive(NativeVariable("OMP_WAIT_POLICY"));
        }
    }

    static void Tune()
    {
        if (!OperatingSystem.IsLinux())
        {
            Applied = "none (not Linux)";
            return;
        }
        if (Environment.GetEnvironmentVariable(Switch) == "0")
        {
            Applied = $"off ({Switch}=0)";
            return;
        }
        var parts = new List<string>();
        try
        {
            if (mallopt(MmapMax, 0) == 1 && mallopt(TrimThreshold, int.MaxValue) == 1) parts.Add("malloc keeps freed memory");
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            // Not glibc (musl has no mallopt): nothing to tune.
        }
        try
        {
            // .NET's Environment.SetEnvironmentVariable does not reach native getenv on Unix; libgomp reads it there.
            if (getenv("OMP_WAIT_POLICY") == IntPtr.Zero && getenv("GOMP_SPINCOUNT") == IntPtr.Zero)
            {
                var (variable, value) = OpenMpWait(OtherRunnableThreads(), Environment.ProcessorCount);
                if (setenv(variable, value, 0) == 0) parts.Add($"{variable}={value}");
            }
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
        }
        Applied = parts.Count == 0 ? "none" : string.Join(", ", parts);
    }

    /// <summary>Whether an <c>OMP_WAIT_POLICY</c> value asks for passive waiting (case-insensitive, as libgomp reads it).</summary>
    internal static bool Passive(string? policy) => string.Equals(policy?.Trim(), "PASSIVE", StringComparison.OrdinalIgnoreCase);

    static string? NativeVariable(string name)
    {
        try
        {
            return Marshal.PtrToStringUTF8(getenv(name));
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return Environment.GetEnvironmentVariable(name);
        }
    }

    /// <summary>
    /// The OpenMP waiting for a machine where <paramref name="others"/> threads of other work are running or waiting for
    /// a CPU (null: unknown) with <paramref name="cores"/> cores for this process: passive when busy or unknown, a short
    /// spin otherwise.
    /// </summary>
    internal static (string Variable, string Value) OpenMpWait(int? others, int cores) =>
        others is { } o && o < cores / 2.0 ? ("GOMP_SPINCOUNT", "10000") : ("OMP_WAIT_POLICY", "PASSIVE");

    /// <summary>
    /// Threads other than this one running or waiting for a CPU now: the least runnable count of up to five readings of
    /// /proc/loadavg 1 ms apart (so a short-lived process is not counted), less the reading thread itself; null when
    /// it cannot be read. A reading of 1 (the reader alone) cannot go lower, so an idle machine costs one read and no
    /// wait at start-up.
    /// </summary>
    static int? OtherRunnableThreads()
    {
        int? least = null;
        try
        {
            for (int i = 0; i < 5; i++)
            {
                if (i > 0) Thread.Sleep(1);
                if (Runnable(File.ReadAllText("/proc/loadavg")) is not { } count) return null;
                least = Math.Min(least ?? count, count);
                if (least == 1) break;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        return Math.Max(0, least!.Value - 1);
    }

    /// <summary>
    /// The runnable count of a /proc/loadavg line ("0.52 0.61 0.70 2/345 6789": the fourth field's numerator, the
    /// threads running or waiting for a CPU at that moment, the reader included); null if the line has no such field.
    /// </summary>
    internal static int? Runnable(string loadavg)
    {
        var fields = loadavg.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 4) return null;
        int slash = fields[3].IndexOf('/');
        return slash > 0 && int.TryParse(fields[3].AsSpan(0, slash), System.Globalization.NumberStyles.None,
            System.Globalization.CultureInfo.InvariantCulture, out int runnable) && runnable > 0 ? runnable : null;
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    static extern int mallopt(int parameter, int value);

    [DllImport("libc", EntryPoint = "getenv")]
    static extern IntPtr getenv([MarshalAs(UnmanagedType.LPUTF8Str)] string name);

    [DllImport("libc", EntryPoint = "setenv")]
    static extern int setenv([MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);
}
