using Microsoft.ML.Circuits.Layers;
using Microsoft.ML.Circuits.Semirings;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Kernels;

/// <summary>
/// The fused native kernel of the CP family (CP, CP-S, CP-XS) on the CPU under log-sum-exp: one pass per fold
/// gathers each slot's input row, contracts it with the slot's matrix after the max-shift and sums the logs over the
/// slots (src/Circuits.Native/cp_kernels.cpp); its backward pass is two more native passes. Anything else — another
/// layer kind, semiring, device or dtype — runs <see cref="ManagedLayerKernel"/>.
/// </summary>
internal sealed class NativeCpKernel : ILayerKernel
{
    public static NativeCpKernel Instance { get; } = new();

    public string Name => "native";

    /// <summary>Whether this kernel computes <paramref name="layer"/> itself (rather than handing it to the managed kernel).</summary>
    public static bool Serves(InnerLayer layer, Semiring semiring, Tensor firstSource) =>
        layer is CpLayer or SharedCpLayer && ReferenceEquals(semiring, Semiring.LogSumExp) &&
        firstSource.device_type == DeviceType.CPU && firstSource.dtype == ScalarType.Float32;

    public Tensor Forward(InnerLayer layer, IReadOnlyList<Tensor> sources, Semiring semiring)
    {
        if (!Serves(layer, semiring, sources[0])) return ManagedLayerKernel.Instance.Forward(layer, sources, semiring);
        using var scope = NewDisposeScope();
        var x = layer.ConcatenatedSources(sources).contiguous();
        Tensor y = layer switch
        {
            CpLayer cp => CpFunction.Apply(x, cp.Weights().contiguous(), layer, shared: false),
            SharedCpLayer xs => CpFunction.Apply(x, xs.Weights().contiguous(), layer, shared: true),
            _ => throw new InvalidOperationException($"{layer.GetType().Name} is not a CP-family layer."),
        };
        if (layer is ScaledSharedCpLayer scaled) y = y.Plus(scaled.LogScale().unsqueeze(1));
        return y.MoveToOuterDisposeScope();
    }
}

/// <summary>The CP-family layer as one autograd node: inputs the concatenated sources (R, B, K) and the weights; output (F, B, O).</summary>
internal sealed class CpFunction : autograd.SingleTensorFunction<CpFunction>
{
    public override string Name => "CircuitsNativeCp";

    sealed record Shape(InnerLayer Layer, bool Shared, long Rows, long Batch);

    public static Tensor Apply(Tensor x, Tensor w, InnerLayer layer, bool shared)
    {
        var shape = new Shape(layer, shared, x.shape[0], x.shape[1]);
        if (!torch.is_grad_enabled() || (!x.requires_grad && !w.requires_grad))
        {
            // Inference: no autograd node and nothing saved for a backward pass.
            using var _ = torch.no_grad();
            return Run(x, w, shape, save: false).Y;
        }
        return apply(x, w, shape);
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var x = (Tensor)vars[0];
        var w = (Tensor)vars[1];
        var shape = (Shape)vars[2];
        var (y, z, e) = Run(x, w, shape, save: true);
        // The backward pass reads the linear sums and the shifted exponentials, never x itself.
        ctx.save_for_backward([w, z!, e!]);
        ctx.save_data("shape", shape);
        return y;
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var saved = ctx.get_saved_variables();
        var (w, z, e) = (saved[0], saved[1], saved[2]);
        var shape = (Shape)ctx.get_data("shape");
        var layer = shape.Layer;
        long folds = layer.Folds, arity = layer.Arity, k = layer.InputUnits, o = layer.OutputUnits, batch = shape.Batch;
        using var g = gradOutput.contiguous();
        var gx = torch.zeros([shape.Rows, batch, k], ScalarType.Float32, w.device);
        var gwFolds = torch.empty([folds, arity, k, o], ScalarType.Float32, w.device);
        using var t = torch.empty_like(z);
        var (wFold, wSlot) = Strides(shape, k, o);
        IntPtr pw = CircuitsNative.DataPointer(w), pg = CircuitsNative.DataPointer(g), pz = CircuitsNative.DataPointer(z),
            pe = CircuitsNative.DataPointer(e), pt = CircuitsNative.DataPointer(t), index = CircuitsNative.DataPointer(layer.GatherIndex),
            mask = layer.PaddingMask is { } padding ? CircuitsNative.DataPointer(padding) : IntPtr.Zero,
            pgx = CircuitsNative.DataPointer(gx), pgw = CircuitsNative.DataPointer(gwFolds);
        // The weight half writes t = g / z, which the input half reads: they run one after the other.
        CircuitsNative.ForRanges(folds, (begin, end) =>
            CircuitsNative.circuits_cp_backward_weight(batch, k, mask, folds, arity, o, pg, pz, pe, pt, pgw, begin, end));
        CircuitsNative.ForRanges(batch, (begin, end) =>
            CircuitsNative.circuits_cp_backward_input(batch, k, index, mask, pw, wFold, wSlot, folds, arity, o, pe, pt, pgx, begin, end));
        GC.KeepAlive(layer);
        Tensor gw;
        if (shape.Shared)
        {
            gw = gwFolds.sum([0L]);
            gwFolds.Dispose();
        }
        else gw = gwFolds;
        return [gx, gw, null!];   // one gradient per argument of apply: none for the shape
    }

    static (long Fold, long Slot) Strides(Shape shape, long k, long o) =>
        shape.Shared ? (0L, k * o) : ((long)shape.Layer.Arity * k * o, k * o);

    static (Tensor Y, Tensor? Z, Tensor? E) Run(Tensor x, Tensor w, Shape shape, bool save)
    {
        var layer = shape.Layer;
        long folds = layer.Folds, arity = layer.Arity, k = layer.InputUnits, o = layer.OutputUnits, batch = shape.Batch;
        var y = torch.empty([folds, batch, o], ScalarType.Float32, x.device);
        var z = save ? torch.empty([folds, arity, batch, o], ScalarType.Float32, x.device) : null;
        var e = save ? torch.empty([folds, arity, batch, k], ScalarType.Float32, x.device) : null;
        var (wFold, wSlot) = Strides(shape, k, o);
        IntPtr px = CircuitsNative.DataPointer(x), pw = CircuitsNative.DataPointer(w), py = CircuitsNative.DataPointer(y),
            pz = z is null ? IntPtr.Zero : CircuitsNative.DataPointer(z), pe = e is null ? IntPtr.Zero : CircuitsNative.DataPointer(e),
            index = CircuitsNative.DataPointer(layer.GatherIndex),
            mask = layer.PaddingMask is { } padding ? CircuitsNative.DataPointer(padding) : IntPtr.Zero;
        CircuitsNative.ForRanges(folds, (begin, end) =>
            CircuitsNative.circuits_cp_forward(px, batch, k, index, mask, pw, wFold, wSlot, folds, arity, o, py, pz, pe, begin, end));
        GC.KeepAlive(x);
        GC.KeepAlive(w);
        return (y, z, e);
    }
}
