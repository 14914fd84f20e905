using System.Runtime.CompilerServices;
using Microsoft.ML.Circuits.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Kernels;

/// <summary>
/// A scaled-linear CP layer's output gradient left to that layer by the one mixing layer that reads it. In a PD or QG
/// circuit most CP outputs (a region's partitions) are read by one mixing slot each; written out, their gradients
/// are a full-size buffer (about 55 MB per PD-CP K=16 step) that is zero-filled, added into by the mixing layer's
/// backward pass and read back by the CP layer's. Instead, where the CP output's only native reader is that mixing
/// layer and its slots read each row once, the mixing layer hands over what each row's gradient is made of (its
/// output's gradient, divisors and factors and the slot's weights: <see cref="Pending"/>) and the CP kernels compute
/// each row where they use it (scaled_kernels.cpp, <c>DeferredGradientRow</c>: the mixing kernel's operations, so
/// the same bits). The CP output's <see cref="SourceGradientFunction"/> then passes autograd a zero-strided
/// placeholder, or, if a gradient from elsewhere arrives too, <see cref="Materialize"/>s the rows first.
/// </summary>
internal sealed class DeferredGradient
{
    static readonly ConditionalWeakTable<Tensor, DeferredGradient> ByOutput = new();

    /// <summary>Whether mixing layers defer (null: yes; for tests and <c>bench --compare-variant deferred-gradients</c>).</summary>
    internal static bool? Defer { get; set; }

    /// <summary>
    /// The fewest rows (CP folds) a source needs for its gradient to be deferred. Measured in one process at PD-CP K=16
    /// (docs/benchmarks.md): deferring its ten sources of 44 rows and more made a training step ×0.79–0.80 of writing
    /// them; deferring the root mixing layer's source of 12 rows too was slower than leaving it out in three runs of
    /// four (that step ×0.76–0.83 without it). The cause is not known; a small source saves little either way.
    /// Settable for tests (tiny circuits have only small sources).
    /// </summary>
    internal static int MinimumRows { get; set; } = 16;

    /// <summary>Whether a mixing layer defers the gradient of a source of <paramref name="rows"/> rows (when it alone reads it).</summary>
    public static bool Defers(int rows) => (Defer ?? true) && rows >= MinimumRows;

    /// <summary>For tests: the gradients deferred so far, and those materialised.</summary>
    internal static long Deferred, Materialized;

    /// <summary>
    /// For tests: materialise every deferred gradient in the output's gradient node, as when a gradient from another
    /// consumer arrives there too.
    /// </summary>
    internal static bool ForceMaterialize { get; set; }

    /// <summary>Registers <paramref name="output"/> as a CP layer output whose backward pass can take a deferred gradient.</summary>
    public static void Register(Tensor output, DeferredGradient target) => ByOutput.AddOrUpdate(output, target);

    /// <summary>The target registered for <paramref name="output"/>, if any.</summary>
    public static DeferredGradient? Of(Tensor output) => ByOutput.TryGetValue(output, out var target) ? target : null;

    /// <summary>What the mixing layer left, until the CP layer's backward pass (or <see cref="Materialize"/>) takes it.</summary>
    public Rows? Pending { get; private set; }

    /// <summary>Hands the rows over (the mixing layer's backward pass).</summary>
    public void Leave(Rows rows)
    {
        Pending = rows;
        Interlocked.Increment(ref Deferred);
    }

    /// <summary>Takes the pending rows (the CP layer's backward pass); null when none were left.</summary>
    public Rows? Take()
    {
        var rows = Pending;
        Pending = null;
        return rows;
    }

    /// <summary>Writes the pending rows' gradients into <paramref name="buffer"/> (zeros, the output's shape) and drops them.</summary>
    public void Materialize(Tensor buffer)
    {
        using var rows = Take();
        if (rows is null) return;
        rows.WriteInto(buffer);
        Interlocked.Increment(ref Materialized);
    }

    /// <summary>
    /// The rows of one CP output as a mixing layer left them: its output's gradient (F_m, B, K + 1), divisors (F_m, B),
    /// factors (F_m, H, B) and weights (F_m, H, K) — references of their own, released on disposal — and for each row
    /// of the CP output the mixing slot that reads it.
    /// </summary>
    public sealed class Rows(InnerLayer mixing, int source, Tensor g, Tensor maxima, Tensor factors, Tensor w, long batch) : IDisposable
    {
        readonly long[] slotOfRow = SlotBlocks.ReadersOf(mixing, source)
            ?? throw new InvalidOperationException("A deferred gradient needs every row of its source read by one slot.");

        /// <summary>
        /// 4·F addresses for the CP kernels (F the CP output's rows): per row the mixing fold's gradient block, its divisors,
        /// the slot's factors and the slot's weights.
        /// </summary>
        public IntPtr[] Addresses()
        {
            long folds = slotOfRow.Length, arity = mixing.Arity, k = mixing.InputUnits;
            IntPtr pg = CircuitsNative.DataPointer(g), pm = CircuitsNative.DataPointer(maxima),
                pf = CircuitsNative.DataPointer(factors), pw = CircuitsNative.DataPointer(w);
            var addresses = new IntPtr[4 * folds];
            for (long f = 0; f < folds; f++)
            {
                long slot = slotOfRow[f], fold = slot / arity;
                addresses[f] = pg + (nint)(fold * batch * (k + 1) * sizeof(float));
                addresses[folds + f] = pm + (nint)(fold * batch * sizeof(float));
                addresses[2 * folds + f] = pf + (nint)(slot * batch * sizeof(float));
                addresses[3 * folds + f] = pw + (nint)(slot * k * sizeof(float));
            }
            return addresses;
        }

        /// <summary>The rows' gradients added into <paramref name="buffer"/> by the mixing kernel itself (the other slots skipped).</summary>
        public void WriteInto(Tensor buffer)
        {
            long k = mixing.InputUnits;
            var grads = new IntPtr[mixing.Folds * mixing.Arity];
            IntPtr pb = CircuitsNative.DataPointer(buffer);
            for (long row = 0; row < slotOfRow.Length; row++)
                grads[slotOfRow[row]] = pb + (nint)(row * batch * (k + 1) * sizeof(float));
            MixingScaledFunction.BackwardInput(mixing, grads, batch, w, g, factors, maxima);
            GC.KeepAlive(buffer);
        }

        public void Dispose()
        {
            g.Dispose();
            maxima.Dispose();
            factors.Dispose();
            w.Dispose();
        }
    }
}
