using Microsoft.ML.Circuits.Layers;
using Microsoft.ML.Circuits.Semirings;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Kernels;

/// <summary>
/// The fused native kernel of the CP family (CP, CP-S, CP-XS) on the CPU under log-sum-exp: one pass per fold
/// reads each slot's input row in place from the layer's sources (no concatenated or gathered copy), contracts it
/// with the slot's matrix after the max-shift and sums the logs over the slots (src/Circuits.Native/cp_kernels.cpp);
/// its backward pass is two more native passes that write the sources' gradients directly. CP and CP-XS layers are
/// also computed on scaled-linear values (<see cref="CpScaledFunction"/>). Anything else — another layer kind,
/// semiring, device or dtype — runs <see cref="ManagedLayerKernel"/>.
/// </summary>
internal sealed class NativeCpKernel : NativeLayerKernel
{
    NativeCpKernel(bool computesReference) : base(computesReference) { }

    /// <summary>The kernel of <see cref="LayerKernelPreference.Native"/>: every log-sum-exp pass, the scoring reference included.</summary>
    public static NativeCpKernel Instance { get; } = new(computesReference: true);

    /// <summary>
    /// The kernel of <see cref="LayerKernelPreference.Auto"/>: the log-sum-exp passes of training and queries, but not
    /// <see cref="Semiring.Scoring"/>, whose results must stay those of the managed kernel bit for bit.
    /// </summary>
    public static NativeCpKernel Auto { get; } = new(computesReference: false);

    private protected override bool Handles(InnerLayer layer) => layer is CpLayer or SharedCpLayer;

    /// <summary>CP and CP-XS on scaled-linear values; CP-S (<see cref="ScaledSharedCpLayer"/>, whose per-unit scale the native kernel does not apply) runs managed there.</summary>
    private protected override bool HandlesScaled(InnerLayer layer) => layer is CpLayer || layer.GetType() == typeof(SharedCpLayer);

    private protected override Tensor ComputeScaled(InnerLayer layer, Tensor[] sources, GradientAccumulator?[] gradients) => layer switch
    {
        CpLayer cp => CpScaledFunction.Apply(sources, cp.Weights().contiguous(), layer, shared: false, gradients),
        SharedCpLayer xs => CpScaledFunction.Apply(sources, xs.Weights().contiguous(), layer, shared: true, gradients),
        _ => throw new InvalidOperationException($"{layer.GetType().Name} has no native scaled-linear kernel."),
    };

    private protected override Tensor Compute(InnerLayer layer, Tensor[] sources, GradientAccumulator?[] gradients)
    {
        var y = layer switch
        {
            CpLayer cp => CpFunction.Apply(sources, cp.Weights().contiguous(), layer, shared: false, gradients),
            SharedCpLayer xs => CpFunction.Apply(sources, xs.Weights().contiguous(), layer, shared: true, gradients),
            _ => throw new InvalidOperationException($"{layer.GetType().Name} is not a CP-family layer."),
        };
        return layer is ScaledSharedCpLayer scaled ? y.Plus(scaled.LogScale().unsqueeze(1)) : y;
    }
}

/// <summary>
/// The CP-family layer as one autograd node: arguments the weights, the shape and the layer's sources (each
/// (F_s, B, K)); output (F, B, O).
/// </summary>
internal sealed class CpFunction : autograd.SingleTensorFunction<CpFunction>
{
    public override string Name => "CircuitsNativeCp";


    public static Tensor Apply(Tensor[] sources, Tensor w, InnerLayer layer, bool shared, GradientAccumulator?[] gradients)
    {
        var shape = new LayerCall(layer, sources[0].shape[1], gradients, shared);
        return NativeAutograd.Apply(w, shape, sources, apply, () => Run(sources, w, shape, save: false).Y);
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var w = (Tensor)vars[0];
        var shape = (LayerCall)vars[1];
        var (y, z, e) = Run(NativeAutograd.Sources(vars), w, shape, save: true);
        // The backward pass reads the linear sums and the shifted exponentials, never the inputs themselves.
        NativeAutograd.Save(ctx, shape, w, z!, e!);
        return y;
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        return NativeAutograd.Backward(Name, ctx, gradOutput, shape =>
        {
            var saved = ctx.get_saved_variables();
            var (w, z, e) = (saved[0], saved[1], saved[2]);
            var layer = shape.Layer;
            long folds = layer.Folds, arity = layer.Arity, k = layer.InputUnits, o = layer.OutputUnits, batch = shape.Batch;
            using var g = gradOutput.contiguous();
            var sourceGrads = SlotBlocks.GradientBuffers(layer, shape.Gradients, batch, w.device, k);
            var gwFolds = torch.empty([folds, arity, k, o], ScalarType.Float32, w.device);
            using var t = torch.empty_like(z);
            var (wFold, wSlot) = Strides(shape.SharedWeights, arity, k, o);
            var grads = SlotBlocks.Pointers(layer, sourceGrads, batch * k);
            IntPtr pw = CircuitsNative.DataPointer(w), pg = CircuitsNative.DataPointer(g), pz = CircuitsNative.DataPointer(z),
                pe = CircuitsNative.DataPointer(e), pt = CircuitsNative.DataPointer(t),
                mask = CircuitsNative.DataPointer(layer.PaddingMask),
                pgw = CircuitsNative.DataPointer(gwFolds);
            // The weight half writes t = g / z, which the input half reads: they run one after the other.
            CircuitsNative.ForRanges(folds, (begin, end) =>
                CircuitsNative.circuits_cp_backward_weight(batch, k, mask, folds, arity, o, pg, pz, pe, pt, pgw, begin, end));
            CircuitsNative.ForRanges(batch, (begin, end) =>
                CircuitsNative.circuits_cp_backward_input(batch, k, grads, mask, pw, wFold, wSlot, folds, arity, o, pe, pt, begin, end));
            GC.KeepAlive(layer);
            return NativeAutograd.Gradients(FoldWeightGradients(gwFolds, shape.SharedWeights), shape.Gradients, sourceGrads);
        });
    }

    /// <summary>The weights' gradient from the per-fold gradients (F, H, K, O): summed over the folds when the matrices are shared.</summary>
    internal static Tensor FoldWeightGradients(Tensor gwFolds, bool shared)
    {
        if (!shared) return gwFolds;
        var gw = gwFolds.sum([0L]);
        gwFolds.Dispose();
        return gw;
    }

    /// <summary>The strides of the weights between folds and between slots (fold stride 0 when the matrices are shared).</summary>
    internal static (long Fold, long Slot) Strides(bool shared, long arity, long k, long o) =>
        shared ? (0L, k * o) : (arity * k * o, k * o);

    static (Tensor Y, Tensor? Z, Tensor? E) Run(Tensor[] sources, Tensor w, LayerCall shape, bool save)
    {
        var layer = shape.Layer;
        long folds = layer.Folds, arity = layer.Arity, k = layer.InputUnits, o = layer.OutputUnits, batch = shape.Batch;
        var device = w.device;
        var y = torch.empty([folds, batch, o], ScalarType.Float32, device);
        var z = save ? torch.empty([folds, arity, batch, o], ScalarType.Float32, device) : null;
        var e = save ? torch.empty([folds, arity, batch, k], ScalarType.Float32, device) : null;
        var (wFold, wSlot) = Strides(shape.SharedWeights, arity, k, o);
        var rows = SlotBlocks.Pointers(layer, sources, batch * k);
        IntPtr pw = CircuitsNative.DataPointer(w), py = CircuitsNative.DataPointer(y),
            pz = CircuitsNative.DataPointer(z), pe = CircuitsNative.DataPointer(e),
            mask = CircuitsNative.DataPointer(layer.PaddingMask);
        CircuitsNative.ForRanges(folds, (begin, end) =>
            CircuitsNative.circuits_cp_forward(rows, batch, k, mask, pw, wFold, wSlot, folds, arity, o, py, pz, pe, begin, end));
        GC.KeepAlive(sources);
        GC.KeepAlive(w);
        return (y, z, e);
    }
}
