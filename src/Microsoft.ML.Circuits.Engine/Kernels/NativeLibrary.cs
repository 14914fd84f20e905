using System.Reflection;
using System.Runtime.InteropServices;

namespace Microsoft.ML.Circuits.Kernels;

/// <summary>
/// libCircuitsNative.so (src/Circuits.Native): found next to this assembly (a build or publish folder) or under
/// runtimes/linux-x64/native (a NuGet consumer's build resolves it there), loaded once, its ABI version checked.
/// Where it is missing — a build machine without cmake or a C++ compiler, another OS — <see cref="Unavailable"/>
/// says why, and every layer runs the managed kernel.
/// </summary>
internal static class CircuitsNative
{
    const string Library = "CircuitsNative";
    const int AbiVersion = 14;
    static readonly Lazy<string?> problem = new(Load);
    static IntPtr handle;

    /// <summary>Why the native kernels cannot run (null when they can).</summary>
    public static string? Unavailable => problem.Value;

    static string? Load()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
            return $"the native kernels are built for Linux x64 only (this is {RuntimeInformation.OSDescription}, {RuntimeInformation.ProcessArchitecture})";
        if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported || !System.Runtime.Intrinsics.X86.Fma.IsSupported)
            return "the native kernels are built for x86-64-v3 (AVX2 and FMA), which this CPU lacks";
        var assembly = typeof(CircuitsNative).Assembly;
        string directory = Path.GetDirectoryName(assembly.Location) ?? AppContext.BaseDirectory;
        string[] candidates =
        [
            Path.Combine(directory, "libCircuitsNative.so"),
            Path.Combine(directory, "runtimes", "linux-x64", "native", "libCircuitsNative.so"),
            Path.Combine(AppContext.BaseDirectory, "libCircuitsNative.so"),
        ];
        string? path = candidates.FirstOrDefault(File.Exists);
        if (path is null)
            return "libCircuitsNative.so was not built (the build needs cmake and a C++ compiler; see src/Circuits.Native/README.md)";
        if (!System.Runtime.InteropServices.NativeLibrary.TryLoad(path, out handle))
            return $"{path} could not be loaded";
        System.Runtime.InteropServices.NativeLibrary.SetDllImportResolver(assembly, Resolve);
        int version = circuits_native_abi_version();
        if (version != AbiVersion) return $"{path} has ABI version {version}, this engine needs {AbiVersion} (rebuild src/Circuits.Native)";
        if (Environment.GetEnvironmentVariable(Avx512Switch) == "0") circuits_vector_width(8);
        return null;
    }

    /// <summary>
    /// The environment variable that keeps the native library's wide vectors — the GEMM's 16-column blocks, the
    /// vectorised exp and log — on 8 floats (AVX2) on a CPU with AVX-512 (value
    /// <c>0</c>; read when the library loads). Both widths give identical results; it exists to measure one against the
    /// other and to rule the wide vectors out when a machine misbehaves.
    /// </summary>
    public const string Avx512Switch = "CIRCUITS_NATIVE_AVX512";

    /// <summary>
    /// The width of the native library's wide vectors (the GEMM's 16-column blocks, exp and log): 16 floats where the
    /// CPU has AVX-512F (and <see cref="Avx512Switch"/> is not 0), else 8; 0 when the native kernels are unavailable.
    /// </summary>
    public static int VectorWidth => Unavailable is null ? circuits_vector_width(0) : 0;

    /// <summary>
    /// Sets the native library's vector width (8, or 16 where the CPU has AVX-512F) for the passes that follow; false when
    /// the width cannot be used. Not while kernels run on other threads (tests and benchmarks call it between passes).
    /// </summary>
    public static bool TrySetVectorWidth(int width) =>
        Unavailable is null && width is (8 or 16) && circuits_vector_width(width) == width;

    /// <summary>
    /// Whether this CPU can run the native library's wide vectors on 16 floats: AVX-512F, supported by the CPU and saved by the OS
    /// (the runtime's check, the same the native library makes at load time).
    /// </summary>
    public static bool Avx512Available => Unavailable is null && System.Runtime.Intrinsics.X86.Avx512F.IsSupported;

    static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) =>
        name == Library ? handle : IntPtr.Zero;

    /// <summary>Throws unless the kernels can run, naming the reason.</summary>
    public static void EnsureAvailable()
    {
        if (Unavailable is { } reason)
            throw new NotSupportedException($"The native kernels are not available: {reason}. Use the managed kernel (LayerKernelPreference.Managed or Auto).");
    }

    [DllImport(Library)]
    static extern int circuits_native_abi_version();

    [DllImport(Library)]
    static extern int circuits_vector_width(int request);

    [DllImport(Library)]
    public static extern int circuits_cp_forward(IntPtr[] rows, long batch, long k, IntPtr mask, IntPtr w, long wFold, long wSlot,
        long folds, long arity, long o, IntPtr y, IntPtr z, IntPtr e, long foldBegin, long foldEnd);

    [DllImport(Library)]
    public static extern int circuits_cp_backward_weight(long batch, long k, IntPtr mask, long folds, long arity, long o,
        IntPtr g, IntPtr z, IntPtr e, IntPtr t, IntPtr gw, long foldBegin, long foldEnd);

    [DllImport(Library)]
    public static extern int circuits_cp_backward_input(long batch, long k, IntPtr[] grads, IntPtr mask, IntPtr w, long wFold, long wSlot,
        long folds, long arity, long o, IntPtr e, IntPtr t, long batchBegin, long batchEnd);

    [DllImport(Library)]
    public static extern int circuits_tucker_forward(IntPtr[] rows, long batch, long k, IntPtr w, long folds, long o,
        IntPtr y, IntPtr z, IntPtr e, long foldBegin, long foldEnd);

    [DllImport(Library)]
    public static extern int circuits_tucker_backward(long batch, long k, IntPtr w, long folds, long o, IntPtr g, IntPtr z, IntPtr e,
        IntPtr gw, IntPtr ge, long foldBegin, long foldEnd);

    [DllImport(Library)]
    public static extern int circuits_add_slot_gradients(IntPtr[] grads, IntPtr ge, long slots, long batch, long k,
        long batchBegin, long batchEnd);

    [DllImport(Library)]
    public static extern int circuits_adam_step(IntPtr p, IntPtr g, IntPtr m, IntPtr v, long n, float beta1, float beta2, float eps,
        float weightDecay, float stepSize, float correction, long begin, long end);

    [DllImport(Library)]
    public static extern int circuits_mixing_forward(IntPtr[] rows, long batch, long k, IntPtr mask, IntPtr w, long folds, long arity,
        IntPtr y, long foldBegin, long foldEnd);

    [DllImport(Library)]
    public static extern int circuits_mixing_backward_weight(IntPtr[] rows, long batch, long k, IntPtr mask, long folds, long arity,
        IntPtr y, IntPtr g, IntPtr gw, long foldBegin, long foldEnd);

    [DllImport(Library)]
    public static extern int circuits_mixing_backward_input(IntPtr[] rows, IntPtr[] grads, long batch, long k, IntPtr mask, IntPtr w,
        long folds, long arity, IntPtr y, IntPtr g, long batchBegin, long batchEnd);

    [DllImport(Library)]
    public static extern int circuits_cp_scaled_forward(IntPtr[] rows, long batch, long k, IntPtr mask, IntPtr w, long wFold, long wSlot,
        long folds, long arity, long o, IntPtr y, IntPtr z, IntPtr divisors, IntPtr maxima, long foldBegin, long foldEnd);

    [DllImport(Library)]
    public static extern int circuits_cp_scaled_backward_weight(IntPtr[] rows, long batch, long k, IntPtr mask, IntPtr w, long wFold,
        long wSlot, long folds, long arity, long o, IntPtr g, IntPtr z, IntPtr divisors, IntPtr maxima, IntPtr[]? mixing, IntPtr t,
        IntPtr gw, long foldBegin, long foldEnd);

    [DllImport(Library)]
    public static extern int circuits_cp_scaled_backward_input(IntPtr[] rows, long batch, long k, IntPtr[] grads, IntPtr mask, IntPtr w,
        long wFold, long wSlot, long folds, long arity, long o, IntPtr g, IntPtr z, IntPtr divisors, IntPtr maxima, IntPtr[]? mixing,
        IntPtr t, long batchBegin, long batchEnd);

    [DllImport(Library)]
    public static extern int circuits_cp_scaled_backward_fused(IntPtr[] rows, long batch, long k, IntPtr[] grads, IntPtr mask, IntPtr w,
        long wFold, long wSlot, long folds, long arity, long o, IntPtr g, IntPtr z, IntPtr divisors, IntPtr maxima, IntPtr[]? mixing,
        IntPtr parts, long chunkBegin, long chunkEnd);

    [DllImport(Library)]
    public static extern int circuits_sum_chunks(IntPtr parts, long chunks, long n, IntPtr output, long begin, long end);

    [DllImport(Library)]
    public static extern int circuits_mixing_scaled_forward(IntPtr[] rows, long batch, long k, IntPtr mask, IntPtr w, long folds,
        long arity, IntPtr y, IntPtr factors, IntPtr maxima, long foldBegin, long foldEnd);

    [DllImport(Library)]
    public static extern int circuits_mixing_scaled_backward_weight(IntPtr[] rows, long batch, long k, IntPtr mask, long folds,
        long arity, IntPtr g, IntPtr factors, IntPtr maxima, IntPtr gw, long foldBegin, long foldEnd);

    [DllImport(Library)]
    public static extern int circuits_mixing_scaled_backward_input(IntPtr[] grads, long batch, long k, IntPtr mask, IntPtr w,
        long folds, long arity, IntPtr g, IntPtr factors, IntPtr maxima, long batchBegin, long batchEnd);

    [DllImport(Library)]
    public static extern int circuits_to_scaled(IntPtr x, long rows, long k, IntPtr y, long rowBegin, long rowEnd);

    [DllImport(Library)]
    public static extern int circuits_to_scaled_backward(IntPtr gy, IntPtr y, long rows, long k, IntPtr gx, long rowBegin, long rowEnd);

    [DllImport(Library)]
    public static extern int circuits_input_forward(IntPtr table, IntPtr x, long batch, long variables, long channels, long categories,
        long replicas, long units, IntPtr y, long begin, long end);

    [DllImport(Library)]
    public static extern int circuits_input_backward(IntPtr g, IntPtr x, long batch, long variables, long channels, long categories,
        long replicas, long units, IntPtr gt, long begin, long end);

    [DllImport(Library)]
    public static extern int circuits_input_normalisers(IntPtr theta, long variables, long channels, long categories, long width,
        IntPtr lse, long begin, long end);

    [DllImport(Library)]
    public static extern int circuits_input_scaled_forward(IntPtr theta, IntPtr lse, IntPtr x, long batch, long variables, long channels,
        long categories, long replicas, long units, IntPtr regionRows, long regions, long arity, IntPtr y, long begin, long end);

    [DllImport(Library)]
    public static extern int circuits_input_scaled_backward(IntPtr gy, IntPtr y, IntPtr theta, IntPtr lse, IntPtr x, long batch, long variables,
        long channels, long categories, long replicas, long units, IntPtr rowOffsets, IntPtr rowRegions, long regions, IntPtr gtheta,
        long begin, long end);

    /// <summary>The address of a tensor's first element (any device); zero for no tensor.</summary>
    public static IntPtr DataPointer(TorchSharp.torch.Tensor? tensor) => tensor is null ? IntPtr.Zero : THSTensor_data(tensor.Handle);

    [DllImport("LibTorchSharp")]
    static extern IntPtr THSTensor_data(IntPtr handle);

    /// <summary>
    /// Runs <paramref name="body"/> over [0, count) split into at most the intra-op thread count of ranges, on the calling
    /// thread and <see cref="KernelWorkers"/> (or the thread pool, when those are busy with another call). A call that
    /// fails returns a nonzero code: <paramref name="failure"/> may turn it into the exception to throw; otherwise (and
    /// for −1, arguments the kernel rejected) it is a bug in the engine's call.
    /// </summary>
    public static void ForRanges(long count, Func<long, long, int> body, Func<int, Exception?>? failure = null)
    {
        int parts = (int)Math.Max(1, Math.Min(count, TorchSharp.torch.get_num_threads()));
        int code = 0;
        if (parts == 1) code = body(0, count);
        else if (!((KernelWorkers.Use ?? true) && KernelWorkers.TryRun(count, parts, body, out code)))
            Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, p =>
            {
                long begin = count * p / parts, end = count * (p + 1) / parts;
                int result = begin < end ? body(begin, end) : 0;
                if (result != 0) Interlocked.CompareExchange(ref code, result, 0);
            });
        if (code == 0) return;
        throw failure?.Invoke(code) ?? new InvalidOperationException($"A native kernel rejected its arguments (code {code}: a bug in the engine's call).");
    }
}
