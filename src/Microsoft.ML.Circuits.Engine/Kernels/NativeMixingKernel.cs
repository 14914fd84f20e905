using Microsoft.ML.Circuits.Layers;
using Microsoft.ML.Circuits.Semirings;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Kernels;

/// <summary>
/// The fused native kernel of the mixing layers on the CPU under log-sum-exp: per fold, the elementwise maximum over
/// the slots, the shifted exponentials, the weighted sum and the log in one pass over the slots' rows, read in place
/// from the layer's sources (src/Circuits.Native/mixing_kernels.cpp); its backward pass writes the sources' gradients
/// directly (and the weights' when they are trained). On scaled-linear values: <see cref="MixingScaledFunction"/>.
/// </summary>
internal sealed class NativeMixingKernel : NativeLayerKernel
{
    NativeMixingKernel(bool computesReference) : base(computesReference) { }

    /// <summary>The kernel of <see cref="LayerKernelPreference.Native"/>.</summary>
    public static NativeMixingKernel Instance { get; } = new(computesReference: true);

    /// <summary>The kernel of <see cref="LayerKernelPreference.Auto"/> (not <see cref="Semiring.Scoring"/>'s passes).</summary>
    public static NativeMixingKernel Auto { get; } = new(computesReference: false);

    private protected override bool Handles(InnerLayer layer) => layer is MixingLayer;

    private protected override bool HandlesScaled(InnerLayer layer) => layer is MixingLayer;

    private protected override Tensor ComputeScaled(InnerLayer layer, Tensor[] sources, GradientAccumulator?[] gradients) =>
        MixingScaledFunction.Apply(sources, ((MixingLayer)layer).Weights().contiguous(), layer, gradients);

    private protected override Tensor Compute(InnerLayer layer, Tensor[] sources, GradientAccumulator?[] gradients) =>
        MixingFunction.Apply(sources, ((MixingLayer)layer).Weights().contiguous(), layer, gradients);
}

/// <summary>The mixing layer as one autograd node: arguments the weights (F, H, K), the shape and the sources; output (F, B, K).</summary>
internal sealed class MixingFunction : autograd.SingleTensorFunction<MixingFunction>
{
    public override string Name => "CircuitsNativeMixing";


    public static Tensor Apply(Tensor[] sources, Tensor w, InnerLayer layer, GradientAccumulator?[] gradients)
    {
        var shape = new LayerCall(layer, sources[0].shape[1], gradients);
        return NativeAutograd.Apply(w, shape, sources, apply, () => Run(sources, w, shape));
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var w = (Tensor)vars[0];
        var shape = (LayerCall)vars[1];
        var sources = NativeAutograd.Sources(vars);
        var y = Run(sources, w, shape);
        // The backward pass reads the output; a copy, so that nothing a consumer does to y can change it. (Saved without
        // a copy, a consumer's in-place change would fail autograd's version check inside the backward pass, which can
        // only report it afterwards — NativeAutograd.Backward — not where the backward pass was called.)
        NativeAutograd.Save(ctx, shape, [w, y.clone(), .. sources]);
        return y;
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        return NativeAutograd.Backward(Name, ctx, gradOutput, shape =>
        {
            var saved = ctx.get_saved_variables();
            var (w, y) = (saved[0], saved[1]);
            var sources = saved.Skip(2).ToArray();
            var layer = shape.Layer;
            long folds = layer.Folds, arity = layer.Arity, k = layer.InputUnits, batch = shape.Batch;
            using var g = gradOutput.contiguous();
            var sourceGrads = SlotBlocks.GradientBuffers(layer, shape.Gradients, batch, w.device, k);
            var rows = SlotBlocks.Pointers(layer, sources, batch * k);
            var grads = SlotBlocks.Pointers(layer, sourceGrads, batch * k);
            IntPtr pw = CircuitsNative.DataPointer(w), py = CircuitsNative.DataPointer(y), pg = CircuitsNative.DataPointer(g),
                mask = CircuitsNative.DataPointer(layer.PaddingMask);
            Tensor? gw = null;
            if (w.requires_grad)
            {
                gw = torch.empty([folds, arity, k], ScalarType.Float32, w.device);
                IntPtr pgw = CircuitsNative.DataPointer(gw);
                CircuitsNative.ForRanges(folds, (begin, end) =>
                    CircuitsNative.circuits_mixing_backward_weight(rows, batch, k, mask, folds, arity, py, pg, pgw, begin, end));
            }
            CircuitsNative.ForRanges(batch, (begin, end) =>
                CircuitsNative.circuits_mixing_backward_input(rows, grads, batch, k, mask, pw, folds, arity, py, pg, begin, end));
            GC.KeepAlive(layer);
            GC.KeepAlive(sources);
            return NativeAutograd.Gradients(gw, shape.Gradients, sourceGrads);   // no weight gradient for frozen weights
        });
    }

    static Tensor Run(Tensor[] sources, Tensor w, LayerCall shape)
    {
        var layer = shape.Layer;
        long folds = layer.Folds, arity = layer.Arity, k = layer.InputUnits, batch = shape.Batch;
        var y = torch.empty([folds, batch, k], ScalarType.Float32, w.device);
        var rows = SlotBlocks.Pointers(layer, sources, batch * k);
        IntPtr pw = CircuitsNative.DataPointer(w), py = CircuitsNative.DataPointer(y),
            mask = CircuitsNative.DataPointer(layer.PaddingMask);
        CircuitsNative.ForRanges(folds, (begin, end) =>
            CircuitsNative.circuits_mixing_forward(rows, batch, k, mask, pw, folds, arity, py, begin, end));
        GC.KeepAlive(sources);
        GC.KeepAlive(w);
        return y;
    }
}
