using Microsoft.ML.Circuits.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Kernels;

/// <summary>
/// The fused native kernel of the Tucker layer on the CPU under log-sum-exp: per fold, the shifted exponentials of its
/// two input rows (read in place from the layer's sources), their outer product a cache-sized block of images at a
/// time, the contraction with the fold's core tensor and the log (src/Circuits.Native/tucker_kernels.cpp). The managed
/// kernel materialises the outer product of every fold and image (F·B·K² floats) and keeps it for the backward pass;
/// this one keeps only the two exponentials and the linear sums and rebuilds the outer product block by block.
/// </summary>
internal sealed class NativeTuckerKernel : NativeLayerKernel
{
    NativeTuckerKernel(bool computesReference) : base(computesReference) { }

    /// <summary>The kernel of <see cref="LayerKernelPreference.Native"/>.</summary>
    public static NativeTuckerKernel Instance { get; } = new(computesReference: true);

    /// <summary>The kernel of <see cref="LayerKernelPreference.Auto"/> (not <see cref="Semirings.Semiring.Scoring"/>'s passes).</summary>
    public static NativeTuckerKernel Auto { get; } = new(computesReference: false);

    private protected override bool Handles(InnerLayer layer) => layer is TuckerLayer;

    private protected override Tensor Compute(InnerLayer layer, Tensor[] sources, GradientAccumulator?[] gradients)
    {
        var tucker = (TuckerLayer)layer;
        var w = tucker.Weights().view(layer.Folds, (long)layer.InputUnits * layer.InputUnits, layer.OutputUnits).contiguous();
        return TuckerFunction.Apply(sources, w, layer, gradients);
    }
}

/// <summary>The Tucker layer as one autograd node: arguments the core tensors (F, K², O), the shape and the sources; output (F, B, O).</summary>
internal sealed class TuckerFunction : autograd.SingleTensorFunction<TuckerFunction>
{
    public override string Name => "CircuitsNativeTucker";


    public static Tensor Apply(Tensor[] sources, Tensor w, InnerLayer layer, GradientAccumulator?[] gradients)
    {
        var shape = new LayerCall(layer, sources[0].shape[1], gradients);
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
            long folds = layer.Folds, k = layer.InputUnits, o = layer.OutputUnits, batch = shape.Batch;
            using var g = gradOutput.contiguous();
            var sourceGrads = SlotBlocks.GradientBuffers(layer, shape.Gradients, batch, w.device, k);
            var gw = torch.empty_like(w);
            using var ge = torch.empty_like(e);
            IntPtr pw = CircuitsNative.DataPointer(w), pg = CircuitsNative.DataPointer(g), pz = CircuitsNative.DataPointer(z),
                pe = CircuitsNative.DataPointer(e), pgw = CircuitsNative.DataPointer(gw), pge = CircuitsNative.DataPointer(ge);
            CircuitsNative.ForRanges(folds, (begin, end) =>
                CircuitsNative.circuits_tucker_backward(batch, k, pw, folds, o, pg, pz, pe, pgw, pge, begin, end));
            // Several folds may read the same source row: their gradients are added image by image, never racing.
            var grads = SlotBlocks.Pointers(layer, sourceGrads, batch * k);
            CircuitsNative.ForRanges(batch, (begin, end) =>
                CircuitsNative.circuits_add_slot_gradients(grads, pge, grads.Length, batch, k, begin, end));
            GC.KeepAlive(layer);
            return NativeAutograd.Gradients(w.requires_grad ? gw : null, shape.Gradients, sourceGrads);
        });
    }

    static (Tensor Y, Tensor? Z, Tensor? E) Run(Tensor[] sources, Tensor w, LayerCall shape, bool save)
    {
        var layer = shape.Layer;
        long folds = layer.Folds, k = layer.InputUnits, o = layer.OutputUnits, batch = shape.Batch;
        var device = w.device;
        var y = torch.empty([folds, batch, o], ScalarType.Float32, device);
        var z = save ? torch.empty([folds, batch, o], ScalarType.Float32, device) : null;
        var e = save ? torch.empty([folds, 2, batch, k], ScalarType.Float32, device) : null;
        var rows = SlotBlocks.Pointers(layer, sources, batch * k);
        IntPtr pw = CircuitsNative.DataPointer(w), py = CircuitsNative.DataPointer(y),
            pz = CircuitsNative.DataPointer(z), pe = CircuitsNative.DataPointer(e);
        CircuitsNative.ForRanges(folds, (begin, end) =>
            CircuitsNative.circuits_tucker_forward(rows, batch, k, pw, folds, o, py, pz, pe, begin, end));
        GC.KeepAlive(sources);
        GC.KeepAlive(w);
        return (y, z, e);
    }
}
