using Microsoft.ML.Circuits.Layers;
using Microsoft.ML.Circuits.Semirings;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Kernels;

/// <summary>
/// The native gather of the categorical input layer on the CPU (src/Circuits.Native/input_kernels.cpp): each pixel's
/// log-probabilities read from the layer's table and summed over its channels, written in the layer's output layout;
/// its backward pass adds the output's gradient into the table's gradient, variable by variable. The managed path
/// (an <c>index_select</c> whose backward is a sorted scatter-add) stays the reference. Pixels with missing values
/// always take the managed path.
/// </summary>
internal sealed class NativeInputKernel
{
    NativeInputKernel(bool computesReference) => this.computesReference = computesReference;

    readonly bool computesReference;

    /// <summary>The kernel of <see cref="LayerKernelPreference.Native"/>: every pass, the scoring reference included.</summary>
    public static NativeInputKernel Instance { get; } = new(computesReference: true);

    /// <summary>
    /// The kernel of <see cref="LayerKernelPreference.Auto"/>: every pass but <see cref="Semiring.Scoring"/>'s, whose
    /// results must stay those of the managed path bit for bit (with several channels the sum's order may differ).
    /// </summary>
    public static NativeInputKernel Auto { get; } = new(computesReference: false);

    /// <summary>Whether this kernel computes the layer's output for a pass over <paramref name="semiring"/> on these tensors.</summary>
    public bool Computes(Semiring semiring, Tensor logProbabilities, Tensor x) =>
        (computesReference || semiring is not LogSumExpSemiring { IsReference: true }) && ComputesScaled(logProbabilities, x);

    /// <summary>
    /// Whether the native kernels compute on these tensors — float32 logits (or log-probabilities) and int64 pixels on
    /// the CPU; for <see cref="ForwardScaled"/> the whole condition (scaled-linear passes are never the scoring reference).
    /// </summary>
    public static bool ComputesScaled(Tensor logits, Tensor x) =>
        logits.device_type == DeviceType.CPU && logits.dtype == ScalarType.Float32
        && x.device_type == DeviceType.CPU && x.dtype == ScalarType.Int64;

    /// <summary>
    /// The circuit's input regions (R, B, K + 1) in scaled-linear form, from the layer's logits and the pixels in one
    /// pass (src/Circuits.Native/input_kernels.cpp): the log-softmax table, the gather, the regions' sums and the
    /// conversion of the unfused path without their intermediate tensors.
    /// </summary>
    public static Tensor ForwardScaled(CategoricalInputLayer layer, Tensor x, InputRegionMaps regions)
    {
        NativeAutograd.ThrowPendingFailure();
        using var scope = NewDisposeScope();
        // Variable-major (D, B, C): the kernels read one variable's values for every image at a time.
        var pixels = x.permute(1, 0, 2).contiguous();
        var shape = new InputScaledFunction.Shape(layer, regions);
        var logits = layer.Logits;
        var y = torch.is_grad_enabled() && logits.requires_grad
            ? InputScaledFunction.apply(logits, pixels, shape)
            : InputScaledFunction.Run(logits, pixels, shape).Y;
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The input regions (D·P, B, K + 1) of a single-channel layer whose regions are its variables, in scaled-linear
    /// form: each pixel's row gathered from <paramref name="scaledTable"/> (D, 1, N, P, K + 1), the layer's
    /// log-probabilities converted once (<see cref="TensorizedCircuit.ScaledInputTable"/>) — the same numbers as the
    /// gather of log-values and their conversion, row by row, without an exponential per image and pixel. No gradient.
    /// </summary>
    public static Tensor GatherScaled(CategoricalInputLayer layer, Tensor scaledTable, Tensor x)
    {
        NativeAutograd.ThrowPendingFailure();
        using var pixels = x.contiguous();
        return InputFunction.Gather(scaledTable, pixels, layer, layer.Units + 1);
    }

    /// <summary>log p(x) (D·P, B, K) from the layer's log-probabilities (D, C, N, P, K) and pixels x (B, D, C).</summary>
    public static Tensor Forward(CategoricalInputLayer layer, Tensor logProbabilities, Tensor x)
    {
        NativeAutograd.ThrowPendingFailure();
        using var scope = NewDisposeScope();
        var table = logProbabilities.contiguous();
        var pixels = x.contiguous();
        var shape = new InputFunction.Shape(layer);
        var y = torch.is_grad_enabled() && table.requires_grad
            ? InputFunction.apply(table, pixels, shape)
            : InputFunction.Run(table, pixels, shape);
        return y.MoveToOuterDisposeScope();
    }
}

/// <summary>The input layer's gather as one autograd node: arguments the log-probabilities, the pixels and the shape.</summary>
internal sealed class InputFunction : autograd.SingleTensorFunction<InputFunction>
{
    public override string Name => "CircuitsNativeInput";

    public sealed record Shape(CategoricalInputLayer Layer);

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var table = (Tensor)vars[0];
        var x = (Tensor)vars[1];
        var shape = (Shape)vars[2];
        // The backward pass reads only the pixels (and the table's shape).
        NativeAutograd.Save(ctx, shape, x);
        return Run(table, x, shape);
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        return NativeAutograd.Backward(Name, 3, gradOutput, () =>
        {
            var x = ctx.get_saved_variables()[0];
            var layer = ((Shape)ctx.get_data("shape")).Layer;
            using var g = gradOutput.contiguous();
            var gt = torch.zeros([layer.Variables, layer.Channels, layer.Categories, layer.Replicas, layer.Units], ScalarType.Float32, g.device);
            IntPtr pg = CircuitsNative.DataPointer(g), px = CircuitsNative.DataPointer(x), pgt = CircuitsNative.DataPointer(gt);
            long batch = x.shape[0];
            CircuitsNative.ForRanges(layer.Variables, (begin, end) => CircuitsNative.circuits_input_backward(pg, px, batch, layer.Variables,
                layer.Channels, layer.Categories, layer.Replicas, layer.Units, pgt, begin, end), failure => PixelError(failure, layer));
            GC.KeepAlive(x);
            return [gt, null!, null!];
        });
    }

    /// <summary>The forward pass: (D·P, B, K), row d·P + p.</summary>
    public static Tensor Run(Tensor table, Tensor x, Shape shape) => Gather(table, x, shape.Layer, shape.Layer.Units);

    /// <summary>
    /// Rows of <paramref name="units"/> floats gathered from <paramref name="table"/> (D, C, N, P, units), summed over
    /// the channels: (D·P, B, units), row d·P + p. <paramref name="x"/>: contiguous int64 pixels (B, D, C).
    /// </summary>
    internal static Tensor Gather(Tensor table, Tensor x, CategoricalInputLayer layer, long units)
    {
        long batch = x.shape[0];
        var y = torch.empty([(long)layer.Variables * layer.Replicas, batch, units], ScalarType.Float32, table.device);
        IntPtr pt = CircuitsNative.DataPointer(table), px = CircuitsNative.DataPointer(x), py = CircuitsNative.DataPointer(y);
        CircuitsNative.ForRanges(layer.Variables, (begin, end) => CircuitsNative.circuits_input_forward(pt, px, batch, layer.Variables,
            layer.Channels, layer.Categories, layer.Replicas, units, py, begin, end), failure => PixelError(failure, layer));
        GC.KeepAlive(table);
        GC.KeepAlive(x);
        return y;
    }

    internal static Exception? PixelError(int code, CategoricalInputLayer layer) => code == -2
        ? new ArgumentOutOfRangeException("x", $"A pixel value is outside 0..{layer.Categories - 1}, the categories of this circuit's input layer.")
        : null;
}

/// <summary>
/// Which rows of the input layer's output (D·P of them) make each input region of a circuit, in the two directions the
/// fused kernels read (CPU int64 tensors, built once per circuit): <see cref="RegionRows"/> (R, A), a region's rows
/// then −1; and for row i the regions holding it, <c>RowRegions[RowOffsets[i] .. RowOffsets[i + 1])</c>.
/// </summary>
internal sealed class InputRegionMaps : IDisposable
{
    /// <param name="regionRows">Each region's rows.</param>
    /// <param name="rows">D·P.</param>
    /// <param name="identity">Whether the regions are the rows themselves, in order (the circuit knows: it then gathers nothing).</param>
    public InputRegionMaps(IReadOnlyList<IReadOnlyList<int>> regionRows, int rows, bool identity)
    {
        Identity = identity;
        Regions = regionRows.Count;
        Arity = regionRows.Max(r => r.Count);
        var padded = new long[Regions * Arity];
        Array.Fill(padded, -1L);
        var holders = Enumerable.Range(0, rows).Select(_ => new List<long>()).ToArray();
        for (int r = 0; r < Regions; r++)
            for (int a = 0; a < regionRows[r].Count; a++)
            {
                padded[r * Arity + a] = regionRows[r][a];
                holders[regionRows[r][a]].Add(r);
            }
        var offsets = new long[rows + 1];
        for (int i = 0; i < rows; i++) offsets[i + 1] = offsets[i] + holders[i].Count;
        // Owned by the circuit (disposed with it), whatever dispose scope is open when they are built.
        RegionRows = torch.tensor(padded, [Regions, Arity]).DetachFromDisposeScope();
        RowOffsets = torch.tensor(offsets).DetachFromDisposeScope();
        RowRegions = torch.tensor(holders.SelectMany(h => h).DefaultIfEmpty(-1L).ToArray()).DetachFromDisposeScope();
    }

    /// <summary>Whether the regions are the rows themselves, in order (one row each): the forward kernel then runs per variable.</summary>
    public bool Identity { get; }

    public long Regions { get; }
    public long Arity { get; }
    public Tensor RegionRows { get; }
    public Tensor RowOffsets { get; }
    public Tensor RowRegions { get; }

    public void Dispose()
    {
        RegionRows.Dispose();
        RowOffsets.Dispose();
        RowRegions.Dispose();
    }
}

/// <summary>
/// The input layer, its input regions and the conversion to scaled-linear values as one autograd node: arguments the
/// logits, the pixels (variable-major, (D, B, C)) and the shape. The backward pass computes the logits' gradient variable by variable
/// (log-softmax's backward, the regions' sums' and the gather's together).
/// </summary>
internal sealed class InputScaledFunction : autograd.SingleTensorFunction<InputScaledFunction>
{
    public override string Name => "CircuitsNativeInputScaled";

    public sealed record Shape(CategoricalInputLayer Layer, InputRegionMaps Regions);

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var logits = (Tensor)vars[0];
        var x = (Tensor)vars[1];
        var shape = (Shape)vars[2];
        var (y, lse) = Run(logits, x, shape);
        // The backward pass reads the output (the gradient of exp), the logits and their log-normalisers, and the pixels.
        NativeAutograd.Save(ctx, shape, x, y, lse, logits);
        return y;
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        return NativeAutograd.Backward(Name, 3, gradOutput, () =>
        {
            var saved = ctx.get_saved_variables();
            Tensor x = saved[0], y = saved[1], lse = saved[2], logits = saved[3];
            var (layer, regions) = (Shape)ctx.get_data("shape");
            using var g = gradOutput.contiguous();
            var gt = torch.empty_like(logits);
            IntPtr pg = CircuitsNative.DataPointer(g), py = CircuitsNative.DataPointer(y), pt = CircuitsNative.DataPointer(logits),
                pl = CircuitsNative.DataPointer(lse), px = CircuitsNative.DataPointer(x), pgt = CircuitsNative.DataPointer(gt),
                po = CircuitsNative.DataPointer(regions.RowOffsets), pr = CircuitsNative.DataPointer(regions.RowRegions);
            long batch = x.shape[1];
            CircuitsNative.ForRanges(layer.Variables, (begin, end) => CircuitsNative.circuits_input_scaled_backward(pg, py, pt, pl, px, batch,
                layer.Variables, layer.Channels, layer.Categories, layer.Replicas, layer.Units, po, pr, regions.Regions, pgt, begin, end),
                failure => InputFunction.PixelError(failure, layer));
            GC.KeepAlive(saved);
            GC.KeepAlive(regions);
            return [gt, null!, null!];
        });
    }

    /// <summary>
    /// The forward pass: the scaled-linear input regions (R, B, K + 1) and the log-normalisers (D, C, P·K) — per
    /// variable when the regions are the rows themselves, else the normalisers first, parallel over variables, then the
    /// regions, parallel over regions.
    /// </summary>
    public static (Tensor Y, Tensor Lse) Run(Tensor logits, Tensor x, Shape shape)
    {
        var (layer, regions) = shape;
        long batch = x.shape[1], width = (long)layer.Replicas * layer.Units;
        using var theta = logits.detach().contiguous();
        var y = torch.empty([regions.Regions, batch, layer.Units + 1], ScalarType.Float32, logits.device);
        var lse = torch.empty([layer.Variables, layer.Channels, width], ScalarType.Float32, logits.device);
        IntPtr pt = CircuitsNative.DataPointer(theta), px = CircuitsNative.DataPointer(x), pl = CircuitsNative.DataPointer(lse),
            py = CircuitsNative.DataPointer(y), prows = CircuitsNative.DataPointer(regions.RegionRows);
        if (regions.Identity)
            // Each variable's normalisers and rows in one call, its logits still in the cache.
            CircuitsNative.ForRanges(layer.Variables, (begin, end) => CircuitsNative.circuits_input_scaled_forward(pt, pl, px, batch,
                layer.Variables, layer.Channels, layer.Categories, layer.Replicas, layer.Units, IntPtr.Zero, regions.Regions, 1, py,
                begin, end), failure => InputFunction.PixelError(failure, layer));
        else
        {
            CircuitsNative.ForRanges(layer.Variables, (begin, end) => CircuitsNative.circuits_input_normalisers(pt, layer.Variables,
                layer.Channels, layer.Categories, width, pl, begin, end));
            CircuitsNative.ForRanges(regions.Regions, (begin, end) => CircuitsNative.circuits_input_scaled_forward(pt, pl, px, batch,
                layer.Variables, layer.Channels, layer.Categories, layer.Replicas, layer.Units, prows, regions.Regions, regions.Arity, py,
                begin, end), failure => InputFunction.PixelError(failure, layer));
        }
        GC.KeepAlive(theta);
        GC.KeepAlive(x);
        GC.KeepAlive(regions);
        return (y, lse);
    }
}
