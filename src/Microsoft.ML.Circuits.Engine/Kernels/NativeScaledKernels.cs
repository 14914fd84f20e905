using Microsoft.ML.Circuits.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Kernels;

/// <summary>
/// The CP-family layer (CP, CP-XS) on scaled-linear values as one autograd node (src/Circuits.Native/scaled_kernels.cpp):
/// per slot a GEMM of the linear part of the rows it reads in place, the product over the slots, one rescale per image,
/// the log-scales added; no exponential or logarithm on the units' values. Arguments the weights, the shape and the
/// layer's sources (each (F_s, B, K + 1)); output (F, B, O + 1). Its backward pass writes the linear part of the sources'
/// gradients in place (the log-scales are constants to autograd, as in <see cref="Semirings.ScaledLinearSemiring"/>).
/// </summary>
internal sealed class CpScaledFunction : autograd.SingleTensorFunction<CpScaledFunction>
{
    public override string Name => "CircuitsNativeCpScaled";

    /// <summary>
    /// Whether a training pass saves the slots' factors z (F, H, B, O) for the backward pass (false) or the backward pass
    /// computes them again from the inputs and the weights (true; the same bits); null: <see cref="RecomputesFactors"/>
    /// decides by the layer's shape. For tests and <c>bench --compare-variant recompute-factors</c>.
    /// </summary>
    internal static bool? RecomputeFactors { get; set; }

    /// <summary>
    /// Whether the backward pass of <paramref name="layer"/> computes the slots' factors again instead of reading them
    /// saved: where its matrices are at most 16 × 16. Recomputing trades the factors' trip to memory and back (F·H·B·O
    /// floats written, then read) for one more GEMM per slot of B·K·O multiply-adds. Measured in one process
    /// (<c>bench --compare-variant recompute-factors</c>, docs/benchmarks.md): at K = 16 a training step ×0.88–1.04 of
    /// the saved factors' (PD-CP ×0.88–1.00, QG-CP ×0.96–1.04) with 10–15 % less peak memory; at K = 32 and 64, where
    /// the GEMM costs more, ×0.97–1.15 (the calling thread's CPU time).
    /// </summary>
    internal static bool RecomputesFactors(InnerLayer layer) => RecomputeFactors ?? layer.InputUnits * layer.OutputUnits <= 16 * 16;

    /// <summary>
    /// Whether the backward pass's weight half keeps the slots' gradients t (F, H, B, O) for its input half (true) or
    /// the input half computes them again from the output's gradient and the slots' factors (false; the same bits);
    /// null: <see cref="KeepsSlotGradients"/> decides. For tests and <c>bench --compare-variant slot-gradients</c>.
    /// </summary>
    internal static bool? KeepSlotGradients { get; set; }

    /// <summary>
    /// Whether a CP backward pass keeps the slots' gradients between its halves: only where the forward pass did not
    /// save the slots' factors (<paramref name="factorsSaved"/> false), as computing t again then means computing the
    /// factors again too, one GEMM per slot. Where they were saved, t costs the input half one multiplication per value
    /// of the factors it reads instead, and the F·H·B·O floats of t are never written (at QG-CP K=64, 200 MB per step)
    /// — measured in one process (<c>bench --compare-variant slot-gradients</c>, docs/benchmarks.md).
    /// </summary>
    internal static bool KeepsSlotGradients(bool factorsSaved) => KeepSlotGradients ?? !factorsSaved;

    /// <summary>
    /// Whether the backward pass runs as one pass over chunks of images (true: per fold and chunk of 64 images the slots'
    /// gradients, the chunk's share of the weight gradient and the input gradient, the slots' gradients kept in cache)
    /// or as the weight half over the folds then the input half over the images (false; the same bits); null:
    /// <see cref="FusesBackward"/> decides. For tests and <c>bench --compare-variant fused-backward</c>.
    /// </summary>
    internal static bool? FuseBackward { get; set; }

    /// <summary>
    /// Whether the backward pass is fused: where the forward pass did not save the slots' factors (<paramref name="factorsSaved"/>
    /// false, matrices of at most 16 × 16). There the two-pass form either writes the slots' gradients (F·H·B·O floats,
    /// about 100 MB per PD-CP K=16 step) to memory and reads them back or computes them, factors included, twice; the
    /// fused pass computes them once per chunk and never writes them, for ⌈B / 64⌉ partial weight gradients of
    /// F·H·K·O floats each, added up at the end. Measured in one process (<c>bench --compare-variant fused-backward</c>,
    /// docs/benchmarks.md). The fused pass runs one chunk per thread at most, so only where the batch has at least as
    /// many chunks as there are threads (<paramref name="batch"/>, <paramref name="threads"/>); with more threads the
    /// two passes, which split folds and images across all of them, keep every core busy.
    /// </summary>
    internal static bool FusesBackward(bool factorsSaved, long batch, int threads) =>
        FuseBackward ?? (!factorsSaved && Chunks(batch) >= threads);

    /// <summary>Images per chunk of the weight gradient's sum (scaled_kernels.cpp's GradientChunk).</summary>
    const long GradientChunk = 64;

    /// <summary>The chunks of <paramref name="batch"/> images the weight gradient is summed over.</summary>
    static long Chunks(long batch) => (batch + GradientChunk - 1) / GradientChunk;

    public static Tensor Apply(Tensor[] sources, Tensor w, InnerLayer layer, bool shared, GradientAccumulator?[] gradients)
    {
        var shape = new LayerCall(layer, sources[0].shape[1], gradients, shared) { Output = new DeferredGradient() };
        var y = NativeAutograd.Apply(w, shape, sources, apply, () => Run(sources, w, shape, save: false, saveFactors: false).Y);
        // The reader of the output finds where it may leave the output's gradient (Kernels/DeferredGradient.cs).
        if (y.requires_grad) DeferredGradient.Register(y, shape.Output!);
        return y;
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var w = (Tensor)vars[0];
        var shape = (LayerCall)vars[1];
        var sources = NativeAutograd.Sources(vars);
        bool recompute = RecomputesFactors(shape.Layer);
        var (y, z, divisors, maxima) = Run(sources, w, shape, save: true, saveFactors: !recompute);
        // The backward pass reads the slots' rescales, the outputs' divisors and the inputs' linear parts, and the slots'
        // factors saved (an empty tensor when it computes them again).
        NativeAutograd.Save(ctx, shape, [w, z ?? torch.empty(0), divisors!, maxima!, .. sources]);
        return y;
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        return NativeAutograd.Backward(Name, ctx, gradOutput, shape =>
        {
            var saved = ctx.get_saved_variables();
            var (w, z, divisors, maxima) = (saved[0], saved[1], saved[2], saved[3]);
            var sources = saved.Skip(4).ToArray();
            var layer = shape.Layer;
            long folds = layer.Folds, arity = layer.Arity, k = layer.InputUnits, o = layer.OutputUnits, batch = shape.Batch;
            // The output's gradient: left by the mixing layer that reads it (computed row by row in the kernels; autograd
            // passed a zero-strided placeholder), or as autograd passed it.
            using var deferred = shape.Output?.Take();
            bool placeholder = deferred is not null && gradOutput.stride().All(stride => stride == 0)
                && System.Runtime.InteropServices.Marshal.ReadInt32(CircuitsNative.DataPointer(gradOutput)) == 0;   // one +0.0f
            using var g = deferred is null ? gradOutput.contiguous() : placeholder ? null : gradOutput.contiguous().clone();
            if (deferred is not null && !placeholder)
                deferred.WriteInto(g!);   // a gradient from elsewhere arrived too: the mixing layer's rows added to it
            IntPtr[]? mixing = placeholder ? deferred!.Addresses() : null;
            var sourceGrads = SlotBlocks.GradientBuffers(layer, shape.Gradients, batch, w.device, k + 1);
            var gwFolds = torch.empty([folds, arity, k, o], ScalarType.Float32, w.device);
            bool factorsSaved = z.numel() > 0;   // an empty tensor when the backward pass computes them again
            var (wFold, wSlot) = CpFunction.Strides(shape.SharedWeights, arity, k, o);
            var rows = SlotBlocks.Pointers(layer, sources, batch * (k + 1));
            var grads = SlotBlocks.Pointers(layer, sourceGrads, batch * (k + 1));
            IntPtr pw = CircuitsNative.DataPointer(w), pg = CircuitsNative.DataPointer(g),
                pz = factorsSaved ? CircuitsNative.DataPointer(z) : IntPtr.Zero, pd = CircuitsNative.DataPointer(divisors),
                pm = CircuitsNative.DataPointer(maxima), mask = CircuitsNative.DataPointer(layer.PaddingMask),
                pgw = CircuitsNative.DataPointer(gwFolds);
            if (FusesBackward(factorsSaved, batch, torch.get_num_threads()))
            {
                // One pass over the chunks of images, each chunk's share of the weight gradient apart; then their sum in
                // chunk order, over ranges of the entries.
                long chunks = Chunks(batch), entries = folds * arity * k * o;
                using var parts = torch.empty([chunks, folds, arity, k, o], ScalarType.Float32, w.device);
                IntPtr pp = CircuitsNative.DataPointer(parts);
                CircuitsNative.ForRanges(chunks, (begin, end) => CircuitsNative.circuits_cp_scaled_backward_fused(
                    rows, batch, k, grads, mask, pw, wFold, wSlot, folds, arity, o, pg, pz, pd, pm, mixing, pp, begin, end));
                CircuitsNative.ForRanges(entries, (begin, end) => CircuitsNative.circuits_sum_chunks(pp, chunks, entries, pgw, begin, end));
            }
            else
            {
                // The slots' gradients (F, H, B, O), kept by the weight half for the input half, or computed again there.
                using var t = KeepsSlotGradients(factorsSaved) ? torch.empty([folds, arity, batch, o], ScalarType.Float32, w.device) : null;
                IntPtr pt = CircuitsNative.DataPointer(t);
                // When the weight half keeps t, the input half reads it: they run one after the other.
                CircuitsNative.ForRanges(folds, (begin, end) => CircuitsNative.circuits_cp_scaled_backward_weight(
                    rows, batch, k, mask, pw, wFold, wSlot, folds, arity, o, pg, pz, pd, pm, mixing, pt, pgw, begin, end));
                CircuitsNative.ForRanges(batch, (begin, end) => CircuitsNative.circuits_cp_scaled_backward_input(
                    rows, batch, k, grads, mask, pw, wFold, wSlot, folds, arity, o, pg, pz, pd, pm, mixing, pt, begin, end));
            }
            GC.KeepAlive(layer);
            GC.KeepAlive(sources);
            GC.KeepAlive(deferred);
            return NativeAutograd.Gradients(CpFunction.FoldWeightGradients(gwFolds, shape.SharedWeights), shape.Gradients, sourceGrads);
        });
    }

    static (Tensor Y, Tensor? Z, Tensor? Divisors, Tensor? Maxima) Run(Tensor[] sources, Tensor w, LayerCall shape, bool save,
        bool saveFactors)
    {
        var layer = shape.Layer;
        long folds = layer.Folds, arity = layer.Arity, k = layer.InputUnits, o = layer.OutputUnits, batch = shape.Batch;
        var device = w.device;
        var y = torch.empty([folds, batch, o + 1], ScalarType.Float32, device);
        var z = save && saveFactors ? torch.empty([folds, arity, batch, o], ScalarType.Float32, device) : null;
        var divisors = save ? torch.empty([folds, arity, batch], ScalarType.Float32, device) : null;
        var maxima = save ? torch.empty([folds, batch], ScalarType.Float32, device) : null;
        var (wFold, wSlot) = CpFunction.Strides(shape.SharedWeights, arity, k, o);
        var rows = SlotBlocks.Pointers(layer, sources, batch * (k + 1));
        IntPtr pw = CircuitsNative.DataPointer(w), py = CircuitsNative.DataPointer(y), pz = CircuitsNative.DataPointer(z),
            pd = CircuitsNative.DataPointer(divisors), pm = CircuitsNative.DataPointer(maxima),
            mask = CircuitsNative.DataPointer(layer.PaddingMask);
        CircuitsNative.ForRanges(folds, (begin, end) => CircuitsNative.circuits_cp_scaled_forward(
            rows, batch, k, mask, pw, wFold, wSlot, folds, arity, o, py, pz, pd, pm, begin, end));
        GC.KeepAlive(sources);
        GC.KeepAlive(w);
        return (y, z, divisors, maxima);
    }
}

/// <summary>
/// The mixing layer on scaled-linear values as one autograd node (src/Circuits.Native/scaled_kernels.cpp): per image the
/// largest log-scale among the slots, each slot's linear part weighted by its weights and by e^(its scale − the largest),
/// summed and rescaled. Arguments the weights (F, H, K), the shape and the sources (each (F_s, B, K + 1)); output
/// (F, B, K + 1).
/// </summary>
internal sealed class MixingScaledFunction : autograd.SingleTensorFunction<MixingScaledFunction>
{
    public override string Name => "CircuitsNativeMixingScaled";


    public static Tensor Apply(Tensor[] sources, Tensor w, InnerLayer layer, GradientAccumulator?[] gradients)
    {
        var shape = new LayerCall(layer, sources[0].shape[1], gradients);
        return NativeAutograd.Apply(w, shape, sources, apply, () => Run(sources, w, shape, save: false).Y);
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var w = (Tensor)vars[0];
        var shape = (LayerCall)vars[1];
        var sources = NativeAutograd.Sources(vars);
        var (y, factors, maxima) = Run(sources, w, shape, save: true);
        NativeAutograd.Save(ctx, shape, [w, factors!, maxima!, .. sources]);
        return y;
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        return NativeAutograd.Backward(Name, ctx, gradOutput, shape =>
        {
            var saved = ctx.get_saved_variables();
            var (w, factors, maxima) = (saved[0], saved[1], saved[2]);
            var sources = saved.Skip(3).ToArray();
            var layer = shape.Layer;
            long folds = layer.Folds, arity = layer.Arity, k = layer.InputUnits, batch = shape.Batch;
            using var g = gradOutput.contiguous();
            // A source whose only native reader is this layer, each of its rows read once, and whose producer can take
            // it (a scaled-linear CP layer): its gradient is left to that layer (Kernels/DeferredGradient.cs) — no buffer,
            // and its slots skipped here.
            var leaveTo = shape.Gradients.Select((accumulator, s) =>
                DeferredGradient.Defers(layer.Spec.Plan.SourceFolds[s]) && accumulator is { Target: { } target, Readers: 1 }
                && SlotBlocks.ReadersOf(layer, s) is not null
                    ? target : null).ToArray();
            var sourceGrads = SlotBlocks.GradientBuffers(layer, shape.Gradients, batch, w.device, k + 1, skip: leaveTo.Select(t => t is not null).ToArray());
            var rows = SlotBlocks.Pointers(layer, sources, batch * (k + 1));
            var grads = SlotBlocks.Pointers(layer, sourceGrads, batch * (k + 1));
            IntPtr pg = CircuitsNative.DataPointer(g), pf = CircuitsNative.DataPointer(factors), pm = CircuitsNative.DataPointer(maxima),
                mask = CircuitsNative.DataPointer(layer.PaddingMask);
            Tensor? gw = null;
            if (w.requires_grad)
            {
                gw = torch.empty([folds, arity, k], ScalarType.Float32, w.device);
                IntPtr pgw = CircuitsNative.DataPointer(gw);
                CircuitsNative.ForRanges(folds, (begin, end) => CircuitsNative.circuits_mixing_scaled_backward_weight(
                    rows, batch, k, mask, folds, arity, pg, pf, pm, pgw, begin, end));
            }
            BackwardInput(layer, grads, batch, w, g, factors, maxima);
            for (int s = 0; s < leaveTo.Length; s++)
                leaveTo[s]?.Leave(new DeferredGradient.Rows(layer, s, g.alias(), maxima.alias(), factors.alias(), w.alias(), batch));
            GC.KeepAlive(layer);
            GC.KeepAlive(sources);
            return NativeAutograd.Gradients(gw, shape.Gradients, sourceGrads);   // no weight gradient for frozen weights
        });
    }

    /// <summary>
    /// dL/dx of the mixing <paramref name="layer"/>, added into the rows <paramref name="grads"/> gives per slot (zero: the
    /// slot is skipped), from its output's gradient <paramref name="g"/> (F, B, K + 1), weights, factors and divisors.
    /// </summary>
    internal static void BackwardInput(InnerLayer layer, IntPtr[] grads, long batch, Tensor w, Tensor g, Tensor factors, Tensor maxima)
    {
        long folds = layer.Folds, arity = layer.Arity, k = layer.InputUnits;
        IntPtr pw = CircuitsNative.DataPointer(w), pg = CircuitsNative.DataPointer(g), pf = CircuitsNative.DataPointer(factors),
            pm = CircuitsNative.DataPointer(maxima), mask = CircuitsNative.DataPointer(layer.PaddingMask);
        CircuitsNative.ForRanges(batch, (begin, end) => CircuitsNative.circuits_mixing_scaled_backward_input(
            grads, batch, k, mask, pw, folds, arity, pg, pf, pm, begin, end));
        GC.KeepAlive(w);
        GC.KeepAlive(g);
        GC.KeepAlive(factors);
        GC.KeepAlive(maxima);
    }

    static (Tensor Y, Tensor? Factors, Tensor? Maxima) Run(Tensor[] sources, Tensor w, LayerCall shape, bool save)
    {
        var layer = shape.Layer;
        long folds = layer.Folds, arity = layer.Arity, k = layer.InputUnits, batch = shape.Batch;
        var y = torch.empty([folds, batch, k + 1], ScalarType.Float32, w.device);
        var factors = save ? torch.empty([folds, arity, batch], ScalarType.Float32, w.device) : null;
        var maxima = save ? torch.empty([folds, batch], ScalarType.Float32, w.device) : null;
        var rows = SlotBlocks.Pointers(layer, sources, batch * (k + 1));
        IntPtr pw = CircuitsNative.DataPointer(w), py = CircuitsNative.DataPointer(y), pf = CircuitsNative.DataPointer(factors),
            pm = CircuitsNative.DataPointer(maxima), mask = CircuitsNative.DataPointer(layer.PaddingMask);
        CircuitsNative.ForRanges(folds, (begin, end) => CircuitsNative.circuits_mixing_scaled_forward(
            rows, batch, k, mask, pw, folds, arity, py, pf, pm, begin, end));
        GC.KeepAlive(sources);
        GC.KeepAlive(w);
        return (y, factors, maxima);
    }
}

/// <summary>
/// The input regions' log-values (R, B, K) converted to scaled-linear values (R, B, K + 1) in one native pass (per row
/// the maximum, the shifted exponentials, the scale), as <see cref="Semirings.ScaledLinearSemiring"/>'s
/// <c>FromLogValues</c> computes them in five libtorch passes; its backward pass multiplies the incoming gradient by the
/// saved output (the shift is a constant to autograd). Used where the circuit's native kernels compute the
/// scaled-linear path (<see cref="Serves"/>).
/// </summary>
internal sealed class ToScaledFunction : autograd.SingleTensorFunction<ToScaledFunction>
{
    public override string Name => "CircuitsNativeToScaled";

    /// <summary>
    /// Whether the native conversion serves a scaled-linear pass of <paramref name="circuit"/> on
    /// <paramref name="logValues"/>: some layer of the circuit computes that path natively, on float32 CPU values.
    /// </summary>
    public static bool Serves(TensorizedCircuit circuit, Tensor logValues, Semirings.Semiring semiring) =>
        semiring is Semirings.ScaledLinearSemiring && logValues.device_type == DeviceType.CPU && logValues.dtype == ScalarType.Float32
        && circuit.Layers.Any(layer => layer.Kernel is NativeLayerKernel native && native.Computes(layer, semiring));

    public static Tensor Apply(Tensor logValues)
    {
        NativeAutograd.ThrowPendingFailure();
        if (torch.is_grad_enabled() && logValues.requires_grad) return apply(logValues);
        using var _ = torch.no_grad();
        return Run(logValues);
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var y = Run((Tensor)vars[0]);
        // The backward pass reads the output, as exp's does.
        ctx.save_for_backward([y]);
        ctx.set_materialize_grads(false);
        return y;
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        return NativeAutograd.Backward(Name, 1, gradOutput, () =>
        {
            var y = ctx.get_saved_variables()[0];
            long k = y.shape[^1] - 1, rows = y.numel() / (k + 1);
            using var g = gradOutput.contiguous();
            var gx = torch.empty([.. y.shape[..^1], k], ScalarType.Float32, y.device);
            IntPtr pg = CircuitsNative.DataPointer(g), py = CircuitsNative.DataPointer(y), pgx = CircuitsNative.DataPointer(gx);
            CircuitsNative.ForRanges(rows, (begin, end) => CircuitsNative.circuits_to_scaled_backward(pg, py, rows, k, pgx, begin, end));
            return [gx];
        });
    }

    static Tensor Run(Tensor logValues)
    {
        using var x = logValues.contiguous();
        long k = x.shape[^1], rows = x.numel() / k;
        var y = torch.empty([.. x.shape[..^1], k + 1], ScalarType.Float32, x.device);
        IntPtr px = CircuitsNative.DataPointer(x), py = CircuitsNative.DataPointer(y);
        CircuitsNative.ForRanges(rows, (begin, end) => CircuitsNative.circuits_to_scaled(px, rows, k, py, begin, end));
        return y;
    }
}
