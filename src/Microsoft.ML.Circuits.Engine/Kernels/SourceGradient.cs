using System.Runtime.CompilerServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Kernels;

/// <summary>
/// One gradient buffer for a layer output that several native kernels read. A layer output of a QG or PD circuit is
/// read by up to six layers, each reading some of its rows; if every reader returned its own zero-filled gradient of
/// the whole output, autograd would fill and add one full-size tensor per reader (at QG-CP K=16: 84 MB zero-filled
/// per training step, and fills and adds 15 % of the step's profile). Instead the native readers take the output through a
/// <see cref="SourceGradientFunction"/> node, write their slots' gradients into this one buffer, and return none;
/// that node's backward pass — which autograd runs only after all of its readers' — hands the buffer on as the
/// output's gradient. Readers whose backward pass does not run (they do not lead to what is differentiated) simply
/// add nothing, as autograd would.
/// </summary>
internal sealed class SourceGradient
{
    static readonly ConditionalWeakTable<Tensor, SourceGradient> BySource = new();

    SourceGradient(Tensor source)
    {
        Accumulator = new GradientAccumulator(source.shape, source.device) { Target = DeferredGradient.Of(source) };
        Input = SourceGradientFunction.Apply(source, Accumulator);
    }

    /// <summary>
    /// The shared gradient of <paramref name="source"/>: one per output object, so every reader of the same output in
    /// a pass shares it. Call it in the scope the output lives in (its <see cref="Input"/> is disposed with it); a
    /// later pass over the same object after that scope ended gets a new one.
    /// </summary>
    public static SourceGradient Of(Tensor source)
    {
        if (BySource.TryGetValue(source, out var shared) && !shared.Input.IsInvalid) return shared;
        shared = new SourceGradient(source);
        BySource.AddOrUpdate(source, shared);
        return shared;
    }

    /// <summary>
    /// What the readers take as their input: a view of the output (a contiguous copy if it is not contiguous) behind
    /// the node that passes the shared gradient on.
    /// </summary>
    public Tensor Input { get; }

    /// <summary>Where the readers' backward passes add their gradients.</summary>
    public GradientAccumulator Accumulator { get; }
}

/// <summary>
/// The buffer of a <see cref="SourceGradient"/>, kept apart from it because the autograd nodes hold it in their saved
/// data: were it the <see cref="SourceGradient"/>, the identity node's saved data would reference the node's own output
/// (<see cref="SourceGradient.Input"/>), a cycle that only the disposal of that output breaks. It holds no tensor but
/// the buffer itself.
/// </summary>
internal sealed class GradientAccumulator(long[] shape, Device device)
{
    /// <summary>The output's device.</summary>
    public Device Device => device;

    Tensor? buffer;
    int readers;

    /// <summary>Counts a native kernel that reads the output (each reader once per pass, in its forward pass).</summary>
    public void AddReader() => Interlocked.Increment(ref readers);

    /// <summary>Native kernels that read the output in its pass.</summary>
    public int Readers => Volatile.Read(ref readers);

    /// <summary>Where the output's only reader may leave the gradient to the layer that made it (null: nowhere).</summary>
    public DeferredGradient? Target { get; init; }

    /// <summary>The output's shape.</summary>
    public long[] Shape => shape;

    /// <summary>The zero-initialised buffer the readers' backward passes add their gradients into (created by the first).</summary>
    public Tensor Buffer() => buffer ??= torch.zeros(shape, ScalarType.Float32, device);

    /// <summary>The accumulated gradient, or null if no reader wrote one; the next backward pass starts a new buffer.</summary>
    public Tensor? Take()
    {
        var taken = buffer;
        buffer = null;
        return taken;
    }
}

/// <summary>
/// The identity node between a layer output and its native readers: its backward pass returns the readers' shared
/// gradient (plus any gradient autograd passes in, which the native readers never do).
/// </summary>
internal sealed class SourceGradientFunction : autograd.SingleTensorFunction<SourceGradientFunction>
{
    public override string Name => "CircuitsNativeSourceGradient";

    public static Tensor Apply(Tensor source, GradientAccumulator gradient) => apply(source, gradient);

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var source = (Tensor)vars[0];
        ctx.save_data("gradient", vars[1]);
        // No zero-filled tensor for the gradient the readers do not return.
        ctx.set_materialize_grads(false);
        return source.is_contiguous() ? source.alias() : source.contiguous();
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        // Its native readers return no gradient (none arrives here): it runs without one.
        return NativeAutograd.Backward(Name, 2, null, () =>
        {
            var accumulator = (GradientAccumulator)ctx.get_data("gradient");
            var shared = accumulator.Take();
            bool arrives = gradOutput is not null && !gradOutput.IsInvalid;
            if (accumulator.Target is { Pending: not null } deferred)
            {
                if (!arrives && !DeferredGradient.ForceMaterialize)
                    // The producing layer computes the gradient itself: autograd gets a zero-strided placeholder.
                    return [torch.zeros(1, ScalarType.Float32, accumulator.Device).expand(accumulator.Shape), null!];
                shared ??= torch.zeros(accumulator.Shape, ScalarType.Float32, accumulator.Device);
                deferred.Materialize(shared);
            }
            if (!arrives) return [shared!, null!];
            return [shared is null ? gradOutput! : shared.add_(gradOutput!), null!];
        });
    }
}
