using System.Runtime.CompilerServices;
using Microsoft.ML.Circuits.Layers;
using Microsoft.ML.Circuits.Semirings;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Kernels;

/// <summary>
/// What the native kernels (src/Circuits.Native) share: they compute log-sum-exp passes on float32 CPU tensors — and,
/// for the layers whose kernel has a scaled-linear form (CP, CP-XS and mixing), scaled-linear passes — and hand anything
/// else to <see cref="ManagedLayerKernel"/>. Each comes in two instances: the one of
/// <see cref="LayerKernelPreference.Native"/>, which computes every log-sum-exp pass, and the one of
/// <see cref="LayerKernelPreference.Auto"/>, which leaves <see cref="Semiring.Scoring"/>'s passes to the managed
/// kernel so saved models score bit for bit as before.
/// </summary>
internal abstract class NativeLayerKernel : ILayerKernel
{
    private protected NativeLayerKernel(bool computesReference) => this.computesReference = computesReference;

    readonly bool computesReference;

    public string Name => "native";

    /// <summary>Whether this kernel computes <paramref name="layer"/>'s passes over <paramref name="semiring"/> (on float32 CPU inputs).</summary>
    public bool Computes(InnerLayer layer, Semiring semiring) => semiring switch
    {
        LogSumExpSemiring lse => Handles(layer) && (computesReference || !lse.IsReference),
        ScaledLinearSemiring => HandlesScaled(layer),
        _ => false,
    };

    public Tensor Forward(InnerLayer layer, IReadOnlyList<Tensor> sources, Semiring semiring)
    {
        if (!Computes(layer, semiring) || sources[0].device_type != DeviceType.CPU || sources[0].dtype != ScalarType.Float32)
            return ManagedLayerKernel.Instance.Forward(layer, sources, semiring);
        NativeAutograd.ThrowPendingFailure();
        // Outputs that gradients flow back to are read through their shared gradient (created here, in the scope the
        // outputs live in); the rest, as contiguous tensors.
        var shared = sources.Select(s => torch.is_grad_enabled() && s.requires_grad ? SourceGradient.Of(s) : null).ToArray();
        foreach (var g in shared) g?.Accumulator.AddReader();
        using var scope = NewDisposeScope();
        var inputs = sources.Select((s, i) => shared[i]?.Input ?? s.contiguous()).ToArray();
        var gradients = shared.Select(g => g?.Accumulator).ToArray();
        var y = semiring is ScaledLinearSemiring ? ComputeScaled(layer, inputs, gradients) : Compute(layer, inputs, gradients);
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>Whether this kernel computes layers like <paramref name="layer"/> under log-sum-exp.</summary>
    private protected abstract bool Handles(InnerLayer layer);

    /// <summary>Whether this kernel computes layers like <paramref name="layer"/> on scaled-linear values.</summary>
    private protected virtual bool HandlesScaled(InnerLayer layer) => false;

    /// <summary>
    /// The layer's log-sum-exp output (F, B, K_out) from its contiguous float32 CPU sources; the backward pass adds each
    /// source's gradient into <paramref name="gradients"/>' buffer (null: the source takes no gradient).
    /// </summary>
    private protected abstract Tensor Compute(InnerLayer layer, Tensor[] sources, GradientAccumulator?[] gradients);

    /// <summary>
    /// The layer's scaled-linear output (F, B, K_out + 1) from its contiguous float32 CPU sources (F_s, B, K_in + 1), as
    /// <see cref="Compute"/> (only called where <see cref="HandlesScaled"/>).
    /// </summary>
    private protected virtual Tensor ComputeScaled(InnerLayer layer, Tensor[] sources, GradientAccumulator?[] gradients) =>
        throw new InvalidOperationException($"The {GetType().Name} has no scaled-linear form.");
}

/// <summary>
/// What a native layer function's autograd node records besides its tensors (its "shape" data): the layer, the batch
/// size, where each source's gradient goes (null: the source's own buffer, returned to autograd), and whether the folds
/// share one set of weights (CP-XS).
/// </summary>
internal sealed record LayerCall(InnerLayer Layer, long Batch, GradientAccumulator?[] Gradients, bool SharedWeights = false)
{
    /// <summary>Where a reader of the layer's output may leave that output's gradient (scaled-linear CP layers; null otherwise).</summary>
    public DeferredGradient? Output { get; init; }
}

/// <summary>
/// What the native kernels' autograd functions share: whether a call must record a graph node, and the arguments of
/// the node — the weights, the function's shape record, then the layer's sources, one gradient each.
/// </summary>
internal static class NativeAutograd
{
    /// <summary>Whether a call on <paramref name="w"/> and <paramref name="sources"/> must be differentiable.</summary>
    public static bool Records(Tensor w, Tensor[] sources) =>
        torch.is_grad_enabled() && (w.requires_grad || sources.Any(s => s.requires_grad));

    /// <summary>
    /// A native function's output: through <paramref name="record"/> (the function's <c>apply</c>) with the node's
    /// arguments when autograd must record it, else <paramref name="inference"/> without gradients — no node, nothing
    /// saved for a backward pass.
    /// </summary>
    public static Tensor Apply(Tensor w, object shape, Tensor[] sources, Func<object[], Tensor> record, Func<Tensor> inference)
    {
        if (Records(w, sources)) return record(Arguments(w, shape, sources));
        using var _ = torch.no_grad();
        return inference();
    }

    /// <summary>
    /// What a forward pass saves for its backward pass: the weights and the kernel's own saved tensors, the shape
    /// record; and an undefined incoming gradient (below a failed node) stays undefined, for <see cref="Backward(string, int, Tensor?, Func{List{Tensor}})"/>.
    /// </summary>
    public static void Save(autograd.AutogradContext ctx, object shape, params Tensor[] saved)
    {
        ctx.save_for_backward([.. saved]);
        ctx.save_data("shape", shape);
        ctx.set_materialize_grads(false);
    }

    /// <summary>The arguments of the autograd node: (w, shape, sources...).</summary>
    public static object[] Arguments(Tensor w, object shape, Tensor[] sources)
    {
        var arguments = new object[sources.Length + 2];
        arguments[0] = w;
        arguments[1] = shape;
        sources.CopyTo(arguments, 2);
        return arguments;
    }

    static Exception? pendingFailure;

    /// <summary>
    /// Runs a native function's backward pass (<paramref name="body"/>; <paramref name="arguments"/>: how many arguments
    /// the node has, one gradient each; <paramref name="gradOutput"/>: the incoming gradient, undefined below a failed node,
    /// or null for a function that runs without one). libtorch's autograd engine calls it through TorchSharp under native frames,
    /// where a managed exception cannot travel and would end the process; so a failure — an allocation that runs out
    /// of memory, above all — is kept instead, the node passes no gradients on, and <see cref="ThrowPendingFailure"/>
    /// rethrows it: right after the backward pass in training, or at the next native forward pass.
    /// </summary>
    public static List<Tensor> Backward(string name, int arguments, Tensor? gradOutput, Func<List<Tensor>> body)
    {
        // No gradient arrives only below a node that failed (the functions do not materialise zeros for it).
        if (gradOutput is { IsInvalid: true }) return [.. Enumerable.Repeat<Tensor>(null!, arguments)];
        try
        {
            if (Fault?.Invoke(name) is { } injected) throw injected;
            return body();
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref pendingFailure, e, null);
            return [.. Enumerable.Repeat<Tensor>(null!, arguments)];
        }
    }

    /// <summary>
    /// <see cref="Backward(string, int, Tensor?, Func{List{Tensor}})"/> for a layer function, whose node's arguments are
    /// the weights, the <see cref="LayerCall"/> saved with <see cref="Save"/> (handed to <paramref name="body"/>) and one
    /// per source.
    /// </summary>
    public static List<Tensor> Backward(string name, autograd.AutogradContext ctx, Tensor gradOutput, Func<LayerCall, List<Tensor>> body)
    {
        var call = (LayerCall)ctx.get_data("shape");
        return Backward(name, 2 + call.Gradients.Length, gradOutput, () => body(call));
    }

    /// <summary>Rethrows, once, the first failure of a native backward pass since the last call (its own type and stack).</summary>
    public static void ThrowPendingFailure()
    {
        if (Interlocked.Exchange(ref pendingFailure, null) is { } failure)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
    }

    /// <summary>For tests: the exception to raise at the start of the named function's backward pass (null: none).</summary>
    internal static Func<string, Exception?>? Fault { get; set; }

    /// <summary>The sources among the node's arguments.</summary>
    public static Tensor[] Sources(object[] arguments) => [.. arguments.Skip(2).Cast<Tensor>()];

    /// <summary>
    /// The node's gradients: the weights' (null when they are not trained), none for the shape, and for each source
    /// none if its gradient went into its shared <see cref="GradientAccumulator"/>, else its own buffer.
    /// </summary>
    public static List<Tensor> Gradients(Tensor? weights, GradientAccumulator?[] accumulators, Tensor[] buffers)
    {
        var result = new List<Tensor>(buffers.Length + 2) { weights!, null! };
        for (int s = 0; s < buffers.Length; s++) result.Add(accumulators[s] is null ? buffers[s] : null!);
        return result;
    }
}

/// <summary>
/// The slots of a layer as addresses: the native kernels read each slot's (B, K) row in place in the layer's sources
/// (and write its gradient in place in the sources' gradients) instead of a concatenated, gathered copy.
/// </summary>
internal static class SlotBlocks
{
    /// <summary>Per layer: for each slot, the source it reads and the row in that source (source −1 for a padded slot).</summary>
    static readonly ConditionalWeakTable<InnerLayer, (int Source, long Row)[]> Slots = new();

    /// <summary>
    /// For each slot of <paramref name="layer"/>, the address of the (B, K) block it reads in <paramref name="tensors"/>
    /// (one per source, with the rows of <see cref="Structure.FoldedLayerPlan.SourceFolds"/>; <paramref name="block"/> =
    /// B·K floats per row); zero for a padded slot.
    /// </summary>
    public static IntPtr[] Pointers(InnerLayer layer, Tensor[] tensors, long block)
    {
        var slots = Slots.GetValue(layer, Map);
        var bases = tensors.Select(CircuitsNative.DataPointer).ToArray();
        var pointers = new IntPtr[slots.Length];
        for (int s = 0; s < slots.Length; s++)
            if (slots[s].Source >= 0 && bases[slots[s].Source] != IntPtr.Zero)   // zero also for a source given as null
                pointers[s] = bases[slots[s].Source] + (nint)(slots[s].Row * block * sizeof(float));
        return pointers;
    }

    /// <summary>
    /// For each row of <paramref name="layer"/>'s source <paramref name="source"/>, the one slot that reads it; null unless
    /// every row of that source is read by exactly one slot.
    /// </summary>
    public static long[]? ReadersOf(InnerLayer layer, int source) => Readers.GetValue(layer, AllReaders)[source];

    /// <summary>Per layer and source: <see cref="ReadersOf"/>.</summary>
    static readonly ConditionalWeakTable<InnerLayer, long[]?[]> Readers = new();

    static long[]?[] AllReaders(InnerLayer layer)
    {
        var sourceRows = layer.Spec.Plan.SourceFolds;
        var readers = sourceRows.Select(rows => Enumerable.Repeat(-1L, rows).ToArray()).ToArray();
        var once = sourceRows.Select(_ => true).ToArray();
        var slots = Slots.GetValue(layer, Map);
        for (int slot = 0; slot < slots.Length; slot++)
        {
            var (source, row) = slots[slot];
            if (source < 0) continue;
            if (readers[source][row] >= 0) once[source] = false;
            readers[source][row] = slot;
        }
        return [.. readers.Select((r, s) => once[s] && r.All(slot => slot >= 0) ? r : null)];
    }

    /// <summary>
    /// The buffers the backward pass adds the sources' gradients into: each source's shared buffer, or for a source
    /// that takes no gradient a zero-filled scratch tensor (rows, B, <paramref name="width"/>: K, or K + 1 on
    /// scaled-linear values); null for the sources <paramref name="skip"/> marks (their gradients are deferred).
    /// </summary>
    public static Tensor[] GradientBuffers(InnerLayer layer, GradientAccumulator?[] gradients, long batch, Device device, long width,
        bool[]? skip = null) =>
        [.. layer.Spec.Plan.SourceFolds.Select((rows, s) => skip?[s] == true ? null! :
            gradients[s]?.Buffer() ?? torch.zeros([rows, batch, width], ScalarType.Float32, device))];

    /// <summary>
    /// Resolves the gather index (rows of the sources concatenated in order, then the padding row) into (source, row)
    /// pairs, once per layer.
    /// </summary>
    static (int Source, long Row)[] Map(InnerLayer layer)
    {
        var gather = layer.Spec.Gather;
        var sourceRows = layer.Spec.Plan.SourceFolds;
        var slots = new (int Source, long Row)[gather.Length];
        for (int i = 0; i < gather.Length; i++)
        {
            long row = gather[i];
            int source = 0;
            while (source < sourceRows.Length && row >= sourceRows[source]) row -= sourceRows[source++];
            slots[i] = source < sourceRows.Length ? (source, row) : (-1, 0);   // past the sources: the padding row
        }
        return slots;
    }
}
