using Microsoft.ML.Circuits.Structure;
using TorchSharp;
using Microsoft.ML.Circuits.Semirings;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Kernels;

/// <summary>
/// The one place that decides which kernel computes a layer of a given kind on a given device: the fused native
/// kernel (src/Circuits.Native) for the CP-family, Tucker and mixing layers on the CPU when the preference allows it
/// and the library loaded, the managed TorchSharp kernel otherwise. The preference of a new circuit comes from the environment variable
/// <c>CIRCUITS_KERNEL</c> (<c>auto</c>, <c>managed</c>, <c>native</c>; default <c>auto</c>).
/// </summary>
internal static class LayerKernels
{
    /// <summary>The environment variable that sets the preference of new circuits.</summary>
    public const string EnvironmentVariable = "CIRCUITS_KERNEL";

    /// <summary>The preference of a new circuit: <see cref="EnvironmentVariable"/>, or <see cref="LayerKernelPreference.Auto"/>.</summary>
    public static LayerKernelPreference DefaultPreference
    {
        get
        {
            string? value = Environment.GetEnvironmentVariable(EnvironmentVariable);
            if (string.IsNullOrWhiteSpace(value)) return LayerKernelPreference.Auto;
            if (Enum.TryParse<LayerKernelPreference>(value.Trim(), ignoreCase: true, out var preference) && Enum.IsDefined(preference))
                return preference;
            throw new ArgumentException($"{EnvironmentVariable}='{value}' is not a kernel preference; expected auto, managed or native.");
        }
    }

    /// <summary>Whether a native kernel computes layers of <paramref name="kind"/> on <paramref name="device"/>.</summary>
    public static bool NativeServes(LayerSpecKind kind, Device device) =>
        kind is LayerSpecKind.CP or LayerSpecKind.CPXS or LayerSpecKind.CPS or LayerSpecKind.Tucker or LayerSpecKind.Mixing
        && device.type == DeviceType.CPU;

    static ILayerKernel Native(LayerSpecKind kind, bool auto) => kind switch
    {
        LayerSpecKind.Mixing => auto ? NativeMixingKernel.Auto : NativeMixingKernel.Instance,
        LayerSpecKind.Tucker => auto ? NativeTuckerKernel.Auto : NativeTuckerKernel.Instance,
        _ => auto ? NativeCpKernel.Auto : NativeCpKernel.Instance,
    };

    /// <summary>
    /// The kernel of a layer. <see cref="LayerKernelPreference.Native"/>: the native one where it applies (an error if
    /// the library is missing). <see cref="LayerKernelPreference.Auto"/>: the native one where it applies and the
    /// library loaded — it measures faster than the managed kernels on either path in <c>bench --compare-kernels</c>
    /// (docs/benchmarks.md, "Native kernels") — except for <see cref="Semiring.Scoring"/>'s passes (models in
    /// <see cref="ScoringMode.Reference"/>), which stay on the managed kernel so those models score bit for bit as before. The managed one otherwise.
    /// </summary>
    public static ILayerKernel Select(LayerSpecKind kind, Device device, LayerKernelPreference preference) =>
        Choose(NativeServes(kind, device), preference) is { } auto ? Native(kind, auto) : ManagedLayerKernel.Instance;

    /// <summary>
    /// The native gather of the categorical input layer, or null for the managed one: by the same rules as
    /// <see cref="Select"/> (CPU only).
    /// </summary>
    public static NativeInputKernel? SelectInput(Device device, LayerKernelPreference preference) =>
        Choose(device.type == DeviceType.CPU, preference) is { } auto ? auto ? NativeInputKernel.Auto : NativeInputKernel.Instance : null;

    /// <summary>
    /// Whether training updates the weights with the native one-pass Adam (<see cref="Training.FusedAdam"/>), by the
    /// same rules as <see cref="Select"/> (CPU only).
    /// </summary>
    public static bool SelectOptimizer(Device device, LayerKernelPreference preference) =>
        Choose(device.type == DeviceType.CPU, preference) is not null;

    /// <summary>
    /// The rule the choices share: null for the managed kernel, else whether the native one is <c>Auto</c>'s instance
    /// (which leaves the scoring reference to the managed kernel). <paramref name="applies"/>: a native kernel exists
    /// for the layer on its device.
    /// </summary>
    static bool? Choose(bool applies, LayerKernelPreference preference)
    {
        switch (preference)
        {
            case LayerKernelPreference.Native:
                CircuitsNative.EnsureAvailable();
                return applies ? false : null;
            case LayerKernelPreference.Auto:
                return applies && CircuitsNative.Unavailable is null ? true : null;
            default:
                return null;
        }
    }
}
