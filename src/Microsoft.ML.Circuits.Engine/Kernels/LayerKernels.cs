using Microsoft.ML.Circuits.Structure;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Kernels;

/// <summary>
/// The one place that decides which kernel computes a layer of a given kind on a given device: the fused native
/// kernel (src/Circuits.Native) for the CP family on the CPU when the preference allows it and the library loaded,
/// the managed TorchSharp kernel otherwise. The preference of a new circuit comes from the environment variable
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

    /// <summary>Whether the native kernel computes layers of <paramref name="kind"/> on <paramref name="device"/>.</summary>
    public static bool NativeServes(LayerSpecKind kind, Device device) =>
        kind is LayerSpecKind.CP or LayerSpecKind.CPXS or LayerSpecKind.CPS && device.type == DeviceType.CPU;

    /// <summary>
    /// The kernel of a layer: the native one where it applies when <see cref="LayerKernelPreference.Native"/> is asked
    /// for (an error if the library is missing), the managed one otherwise. <see cref="LayerKernelPreference.Auto"/> is
    /// the managed kernel: the native one does not measure faster in <c>bench --compare-kernels</c> (docs/benchmarks.md,
    /// "Native kernels"); this is the line to change when it does.
    /// </summary>
    public static ILayerKernel Select(LayerSpecKind kind, Device device, LayerKernelPreference preference)
    {
        if (preference != LayerKernelPreference.Native) return ManagedLayerKernel.Instance;
        CircuitsNative.EnsureAvailable();
        return NativeServes(kind, device) ? NativeCpKernel.Instance : ManagedLayerKernel.Instance;
    }
}
