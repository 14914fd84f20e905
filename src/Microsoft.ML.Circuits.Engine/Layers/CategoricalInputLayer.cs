using Microsoft.ML.Circuits.Semirings;
using Microsoft.ML.Circuits.Structure;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Layers;

/// <summary>
/// The categorical input layer: for each variable d, replica p and unit k, a product over the C channels of
/// categorical distributions over <c>Categories</c> values, parameterised by logits through log-softmax (so every
/// unit is normalised and integrates to 1). Logits θ ∈ (D, C, N, P, K), initialised N(0, 1).
/// Parameters: D·K·P·C·N.
/// </summary>
public sealed class CategoricalInputLayer : nn.Module<Tensor, Tensor>
{
    internal CategoricalInputLayer(InputLayerSpec spec, Generator generator, Device device)
        : base(nameof(CategoricalInputLayer))
    {
        Spec = spec;
        var initial = torch.randn([.. spec.Logits.Shape], ScalarType.Float32, generator: generator);
        Logits = Parameterization.ToParameter(initial, device);
        register_parameter(spec.Logits.Name, Logits);
        using var offsets = torch.arange(0L, (long)Variables * Channels, dtype: ScalarType.Int64).mul_(Categories).view(Variables, Channels, 1);
        RowOffsets = offsets.to(device);
        register_buffer("row_offsets", RowOffsets, persistent: false);
        nativeKernel = Kernels.LayerKernels.SelectInput(device, Kernels.LayerKernels.DefaultPreference);
    }

    Kernels.NativeInputKernel? nativeKernel;

    /// <summary>Which kernel gathers the pixels' log-probabilities: "native" or "managed" (see <see cref="Kernels.LayerKernels.SelectInput"/>).</summary>
    internal string KernelName => nativeKernel is null ? "managed" : "native";

    /// <summary>Whether the native gather serves this layer (its kernel preference allows it and the library loaded).</summary>
    internal bool GathersNatively => nativeKernel is not null;

    internal void SelectKernel(LayerKernelPreference preference, Device device) =>
        nativeKernel = Kernels.LayerKernels.SelectInput(device, preference);

    /// <summary>Every parameter and buffer is registered explicitly (non-persistent buffers stay out of the state).</summary>
    protected override void RegisterComponents() { }

    /// <summary>The backend-neutral description of this layer.</summary>
    public InputLayerSpec Spec { get; }

    /// <summary>D.</summary>
    public int Variables => Spec.Variables;

    /// <summary>C.</summary>
    public int Channels => Spec.Channels;

    /// <summary>N: categories per channel.</summary>
    public int Categories => Spec.Categories;

    /// <summary>P.</summary>
    public int Replicas => Spec.Replicas;

    /// <summary>K_in.</summary>
    public int Units => Spec.Units;

    /// <summary>θ, shape (D, C, N, P, K).</summary>
    public Parameter Logits { get; }

    Tensor RowOffsets { get; }

    /// <summary>Log-probabilities of every value: log-softmax of θ over the categories, shape (D, C, N, P, K).</summary>
    public Tensor LogProbabilities() => Logits.log_softmax(2);

    /// <summary>log p(x) for a batch <paramref name="x"/> (B, D, C) of int64 values in 0..N−1: shape (D·P, B, K).</summary>
    public override Tensor forward(Tensor x) => Forward(x, null, Semiring.LogSumExp);

    /// <summary>
    /// log p(x) with variables marked in <paramref name="missing"/> (B, D) summed out over <paramref name="semiring"/>
    /// (log 1 under log-sum-exp, the most probable value under max-plus): shape (D·P, B, K), row = variable·P + replica.
    /// </summary>
    /// <param name="x">Pixels (B, D, C), int64 in 0..N−1 (values at missing variables are ignored but must be in range).</param>
    /// <param name="missing">Null, or (B, D) booleans.</param>
    /// <param name="semiring">How missing variables are summed out.</param>
    /// <param name="logProbabilities">A precomputed <see cref="LogProbabilities"/> table (a scorer's cache), or null to compute it.</param>
    public Tensor Forward(Tensor x, Tensor? missing, Semiring semiring, Tensor? logProbabilities = null)
    {
        ArgumentNullException.ThrowIfNull(semiring);
        using var scope = NewDisposeScope();
        long batch = x.shape[0];
        var logProbs = logProbabilities ?? LogProbabilities();
        if (missing is null && nativeKernel is { } native && native.Computes(semiring, logProbs, x))
            return Kernels.NativeInputKernel.Forward(this, logProbs, x).MoveToOuterDisposeScope();
        // Row of (variable d, channel c, value v) in the flattened log-probabilities: (d·C + c)·N + v.
        var rows = x.permute(1, 2, 0).Plus(RowOffsets).reshape(-1);
        var table = logProbs.view((long)Variables * Channels * Categories, (long)Replicas * Units);
        var picked = table.index_select(0, rows).view(Variables, Channels, batch, Replicas, Units).sum(1);
        if (missing is not null)
        {
            using var mask = missing.t().view(Variables, batch, 1, 1);
            picked = semiring.SumOfNormalizedIsZero
                ? picked.masked_fill(mask, 0.0)
                : torch.where(mask, SummedOut(semiring, logProbs).unsqueeze(1), picked);
        }
        var output = Replicas == 1
            ? picked.view(Variables, batch, Units)
            : picked.permute(0, 2, 1, 3).reshape((long)Variables * Replicas, batch, Units);
        return output.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The input regions of <paramref name="regions"/> for pixels <paramref name="x"/> with none missing, already in
    /// scaled-linear form (R, B, K + 1): <see cref="Forward"/>, the regions' sums and the conversion fused in the
    /// native kernel; null where the native kernel does not run (the managed kernel, a GPU), and the steps do it.
    /// </summary>
    internal Tensor? ScaledForward(Tensor x, Kernels.InputRegionMaps regions) =>
        nativeKernel is not null && Kernels.NativeInputKernel.ComputesScaled(Logits, x) ? Kernels.NativeInputKernel.ForwardScaled(this, x, regions) : null;

    /// <summary>
    /// Every unit summed out over <paramref name="semiring"/>: shape (D·P, 1, K), row = variable·P + replica — the input
    /// of the partition function (log Z, all zeros under log-sum-exp) or of the max-product circuit's maximum.
    /// </summary>
    public Tensor Integral(Semiring semiring, Tensor? logProbabilities = null)
    {
        ArgumentNullException.ThrowIfNull(semiring);
        if (semiring.SumOfNormalizedIsZero)
            return torch.zeros([(long)Variables * Replicas, 1, Units], ScalarType.Float32, Logits.device);
        using var scope = NewDisposeScope();
        var summed = SummedOut(semiring, logProbabilities ?? LogProbabilities());
        return summed.reshape((long)Variables * Replicas, 1, Units).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The bottom of a top-down pass: every variable d has exactly one chosen unit among its replicas' rows, given in
    /// <paramref name="chosen"/> (D·P, B) as unit + 1 (0 where the row was not chosen); each channel's value is drawn
    /// from (or, with an argmax chooser, is the mode of) that unit's categorical distribution. Shape (B, D, C), int64.
    /// </summary>
    internal Tensor ChooseValues(Tensor chosen, Queries.UnitChooser chooser)
    {
        using var scope = NewDisposeScope();
        long batch = chosen.shape[1];
        var perReplica = chosen.view(Variables, Replicas, batch);
        var unit = perReplica.sum(1).sub_(Semirings.TensorArithmetic.OneInt64).clamp_min_(Semirings.TensorArithmetic.ZeroInt64);
        var replica = perReplica.gt(Semirings.TensorArithmetic.ZeroInt64).to(ScalarType.Int64).argmax(1);
        using var units = ((long)Units).ToScalar();
        var column = replica.mul_(units).AddInPlace(unit);
        var table = LogProbabilities().view(Variables, Channels, Categories, (long)Replicas * Units);
        var logProbs = table.gather(3, column.view(Variables, 1, 1, batch).expand(Variables, Channels, Categories, batch));
        return chooser.Pick(logProbs, 2).permute(2, 0, 1).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>(D, C, N, P, K) log-probabilities → (D, P, K): each unit with its channels' categories summed out.</summary>
    static Tensor SummedOut(Semiring semiring, Tensor logProbabilities)
    {
        using var perChannel = semiring.Sum(logProbabilities, 2);
        return perChannel.sum(1);
    }
}
