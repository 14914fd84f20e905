using Microsoft.ML.Circuits.Kernels;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Training;

/// <summary>
/// Adam with PyTorch's arithmetic — β = (0.9, 0.999), ε = 1e−8 by default, L2 weight decay added to the gradient, bias
/// correction per parameter — where each parameter is updated in one native pass (src/Circuits.Native/
/// optimizer_kernels.cpp) instead of the eight passes over parameter-sized memory of the optimizer built from tensor
/// operations. For float32 CPU parameters when the native library is loaded (<see cref="Serves"/>); parameters without
/// a gradient are left alone, as PyTorch's Adam leaves them.
/// </summary>
internal sealed class FusedAdam : IDisposable
{
    sealed class Slot(Parameter parameter, double weightDecay)
    {
        public Parameter Parameter { get; } = parameter;
        public double WeightDecay { get; } = weightDecay;
        public Tensor? Mean { get; set; }
        public Tensor? Square { get; set; }
        public long Steps { get; set; }
    }

    readonly Slot[] slots;
    readonly double beta1, beta2, epsilon;

    /// <param name="groups">The parameters, each group with its weight decay.</param>
    /// <param name="beta1">The first moment's decay.</param>
    /// <param name="beta2">The second moment's decay.</param>
    /// <param name="epsilon">Added to the denominator.</param>
    public FusedAdam(IEnumerable<(IEnumerable<Parameter> Parameters, double WeightDecay)> groups,
        double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8)
    {
        slots = [.. groups.SelectMany(g => g.Parameters.Select(p => new Slot(p, g.WeightDecay)))];
        (this.beta1, this.beta2, this.epsilon) = (beta1, beta2, epsilon);
        if (slots.FirstOrDefault(s => !Serves(s.Parameter)) is { } other)
            throw new ArgumentException($"The fused Adam updates contiguous float32 CPU parameters; one is {other.Parameter.dtype} on {other.Parameter.device}.", nameof(groups));
    }

    /// <summary>Whether the fused step can update <paramref name="parameter"/>.</summary>
    public static bool Serves(Parameter parameter) =>
        CircuitsNative.Unavailable is null && parameter.device_type == DeviceType.CPU && parameter.dtype == ScalarType.Float32 && parameter.is_contiguous();

    /// <summary>The number of steps taken for each parameter (PyTorch's <c>state['step']</c>), in order.</summary>
    public IReadOnlyList<long> Steps => [.. slots.Select(s => s.Steps)];

    /// <summary>Drops every parameter's gradient, so the next backward pass stores its gradient instead of adding into zeros.</summary>
    public void ClearGradients()
    {
        foreach (var slot in slots) slot.Parameter.grad = null;
    }

    /// <summary>One Adam step at <paramref name="learningRate"/> for every parameter that has a gradient.</summary>
    public void Step(double learningRate)
    {
        using var scope = NewDisposeScope();
        using var _ = torch.no_grad();
        foreach (var slot in slots)
        {
            var grad = slot.Parameter.grad;
            if (grad is null) continue;
            var g = grad.contiguous();
            slot.Mean ??= torch.zeros_like(slot.Parameter).DetachFromDisposeScope();
            slot.Square ??= torch.zeros_like(slot.Parameter).DetachFromDisposeScope();
            slot.Steps++;
            float stepSize = (float)(learningRate / (1 - Math.Pow(beta1, slot.Steps)));
            float correction = (float)Math.Sqrt(1 - Math.Pow(beta2, slot.Steps));
            long n = slot.Parameter.numel();
            IntPtr p = CircuitsNative.DataPointer(slot.Parameter), pg = CircuitsNative.DataPointer(g),
                m = CircuitsNative.DataPointer(slot.Mean), v = CircuitsNative.DataPointer(slot.Square);
            float b1 = (float)beta1, b2 = (float)beta2, eps = (float)epsilon, decay = (float)slot.WeightDecay;
            CircuitsNative.ForRanges(n, (begin, end) =>
                CircuitsNative.circuits_adam_step(p, pg, m, v, n, b1, b2, eps, decay, stepSize, correction, begin, end));
            GC.KeepAlive(g);
        }
    }

    public void Dispose()
    {
        foreach (var slot in slots)
        {
            slot.Mean?.Dispose();
            slot.Square?.Dispose();
        }
    }
}
