using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Semirings;

/// <summary>
/// How a circuit's sums and products are computed, and how the values between layers are represented. Three semirings:
/// <see cref="LogSumExp"/> (sum-product in log space: the reference for likelihoods, marginals, log Z),
/// <see cref="ScaledLinear"/> (the same sum-product on scaled-linear values: no exp or log on the units' values) and
/// <see cref="MaxPlus"/> (max-product in log space: the max-product circuit used for MAP). Layers compute through these
/// operations only, so one layer serves every query. Weights are always non-negative and linear.
/// </summary>
/// <remarks>
/// Values: under <see cref="LogSumExp"/> and <see cref="MaxPlus"/> a vector of K units is K log-values (−∞ allowed).
/// Under <see cref="ScaledLinear"/> it is K + 1 numbers along the last dimension: K non-negative linear values scaled
/// so that their maximum is 1 (all 0 for the zero vector), then one log-scale s (for the zero vector a finite floor far
/// below any real scale), so that unit k's value is e^s · linear[k]. The plan walker converts the input layer's log-values into the semiring's
/// representation and the root back into a log-value, so every query answers in log-values whichever semiring ran.
/// </remarks>
public abstract class Semiring
{
    private protected Semiring() { }

    /// <summary>Sum-product in log space: ⊕ = log-sum-exp, ⊗ = +.</summary>
    public static Semiring LogSumExp { get; } = new LogSumExpSemiring();

    /// <summary>Max-product in log space: ⊕ = max, ⊗ = +.</summary>
    public static Semiring MaxPlus { get; } = new MaxPlusSemiring();

    /// <summary>
    /// Sum-product on scaled-linear values (see the remarks of <see cref="Semiring"/>): ⊕ and ⊗ are the ordinary sum
    /// and product of the linear parts, with the log-scales added, and each layer's output rescaled to a maximum of 1.
    /// Same results as <see cref="LogSumExp"/> to float32 rounding, without an exponential or logarithm per unit.
    /// </summary>
    public static Semiring ScaledLinear { get; } = new ScaledLinearSemiring();

    /// <summary>
    /// The sum-product semiring the library's likelihood, training-loss, marginal and log Z passes run over when the
    /// caller does not choose one: the one place that picks it.
    /// </summary>
    internal static Semiring SumProduct => ScaledLinear;

    /// <summary>
    /// <see cref="SumProduct"/> for <paramref name="circuit"/>: log-sum-exp when a native kernel computes one of its
    /// layers only in log space (Tucker, CP-S: their native kernels measure faster on log-sum-exp than the managed
    /// kernels on the scaled-linear path, docs/benchmarks.md, "Native kernels"); <see cref="SumProduct"/> (scaled-linear)
    /// otherwise — on the managed kernels, and where every native kernel of the circuit computes the scaled-linear path
    /// too (CP, CP-XS, mixing), which measures faster than their log-sum-exp path.
    /// </summary>
    internal static Semiring SumProductFor(TensorizedCircuit circuit) =>
        circuit.Layers.Any(layer => layer.Kernel is Kernels.NativeLayerKernel native && !native.Computes(layer, SumProduct)) ? LogSumExp : SumProduct;

    /// <summary>
    /// The sum-product semiring of scores that are saved or compared across versions: the scores of models whose
    /// <see cref="ModelMetadata.Scoring"/> is <see cref="ScoringMode.Reference"/> (every model file written before the
    /// field existed), the anomaly thresholds fitted from them, and <see cref="Training.Evaluation"/>'s log-likelihoods
    /// by default. The log-sum-exp reference, so a model saved by an earlier version scores bit for bit as it did (the two semirings agree to
    /// float32 rounding, not to the last bit, and a score on its threshold must not flip). Its own instance, so that
    /// the kernels can tell it apart: it runs on the managed kernel unless the circuit explicitly prefers the native
    /// kernels (<see cref="LayerKernelPreference.Native"/>), which agree with it to float32 rounding.
    /// </summary>
    internal static Semiring Scoring { get; } = new LogSumExpSemiring(reference: true);

    /// <summary>
    /// The sum-product semiring of the scores of <paramref name="circuit"/>: <see cref="Scoring"/> (the managed reference)
    /// for <see cref="ScoringMode.Reference"/>; for <see cref="ScoringMode.Fast"/> the circuit's fastest path,
    /// <see cref="SumProductFor"/> (scaled-linear on the native CP, CP-XS and mixing kernels, log-sum-exp where a native
    /// kernel computes only that), which the native kernels run under <see cref="LayerKernelPreference.Auto"/>.
    /// </summary>
    internal static Semiring ScoringFor(ScoringMode mode, TensorizedCircuit circuit) => mode switch
    {
        ScoringMode.Reference => Scoring,
        ScoringMode.Fast => SumProductFor(circuit),
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, $"Scoring must be {ScoringMode.Fast} or {ScoringMode.Reference}."),
    };

    /// <summary>
    /// <paramref name="semiring"/> when it is a sum-product semiring (<see cref="SumOfNormalizedIsZero"/>); throws
    /// otherwise (a likelihood is not a maximum).
    /// </summary>
    internal static Semiring RequireSumProduct(Semiring semiring, string parameter)
    {
        ArgumentNullException.ThrowIfNull(semiring, parameter);
        if (!semiring.SumOfNormalizedIsZero)
            throw new ArgumentException(
                $"Likelihoods need a sum-product semiring ({LogSumExp} or {ScaledLinear}), got {semiring}.", parameter);
        return semiring;
    }

    /// <summary>A short name (<c>log-sum-exp</c>, <c>scaled-linear</c>, <c>max-plus</c>).</summary>
    public abstract string Name { get; }

    /// <summary>
    /// ⊕_i x[n,b,i] ⊗ log w[n,i,o] for a batch of matrices: <paramref name="x"/> (N, B, I) values,
    /// <paramref name="weight"/> (N, I, O) non-negative and linear; returns (N, B, O) values. (Values are in the
    /// semiring's representation, see the remarks of <see cref="Semiring"/>: under <see cref="ScaledLinear"/> the last
    /// dimension holds one more number, the log-scale.)
    /// </summary>
    public abstract Tensor MatMul(Tensor x, Tensor weight);

    /// <summary>
    /// ⊕_{i,j} l[f,b,i] ⊗ r[f,b,j] ⊗ log w[f,(i,j),o]: the Tucker contraction. <paramref name="left"/> (F, B, I) and
    /// <paramref name="right"/> (F, B, J) log-values, <paramref name="weight"/> (F, I·J, O) linear; returns (F, B, O).
    /// </summary>
    public abstract Tensor OuterMatMul(Tensor left, Tensor right, Tensor weight);

    /// <summary>
    /// ⊕_h x[…,h,…] ⊗ log w[…,h,…] over dimension <paramref name="dim"/> (removed): <paramref name="x"/> log-values and
    /// <paramref name="weight"/> linear weights broadcastable to it. Slots with weight 0 must hold −∞ in
    /// <paramref name="x"/> or be otherwise harmless (they contribute nothing under either semiring).
    /// </summary>
    public abstract Tensor WeightedSum(Tensor x, Tensor weight, long dim);

    /// <summary>⊕ over dimension <paramref name="dim"/> (removed) of log-values <paramref name="x"/>.</summary>
    public abstract Tensor Sum(Tensor x, long dim);

    /// <summary>
    /// True when ⊕ over the log-probabilities of a normalised distribution is exactly log 1 = 0 (log-sum-exp), so a
    /// summed-out input unit is 0 without computing anything; false when it must be computed with <see cref="Sum"/>
    /// (max-plus: the largest log-probability).
    /// </summary>
    public abstract bool SumOfNormalizedIsZero { get; }

    /// <summary>The size of the last dimension of a vector of <paramref name="units"/> units in this representation.</summary>
    internal virtual int Width(int units) => units;

    /// <summary>Log-values (…, K) in this semiring's representation (log semirings: the tensor itself).</summary>
    internal virtual Tensor FromLogValues(Tensor logValues) => logValues;

    /// <summary>Values in this semiring's representation as log-values (…, K) (log semirings: the tensor itself).</summary>
    internal virtual Tensor ToLogValues(Tensor values) => values;

    /// <summary>
    /// <paramref name="x"/> with the vectors where <paramref name="where"/> (broadcastable to x without its last
    /// dimension, plus a trailing 1) is true replaced by the zero vector (log semirings: −∞).
    /// </summary>
    internal virtual Tensor ZeroAt(Tensor x, Tensor where) => x.masked_fill(where, TensorArithmetic.NegativeInfinity);

    /// <summary>
    /// The CP contraction of a layer: ⊗ over the slots of (⊕_i x ⊗ log w), then ⊗ a per-unit factor. <paramref name="x"/>
    /// (N, B′, I) values and <paramref name="weight"/> (N, I, O) as for <see cref="MatMul"/>; the (N, B′, O) result is
    /// viewed as <paramref name="shape"/> (S0, S1, B, O) and multiplied (⊗) over <paramref name="slotDim"/> (0 or 1),
    /// leaving out the slots where <paramref name="padded"/> (broadcastable to the shape) is true; then every unit is
    /// multiplied by e^<paramref name="logUnitFactor"/> (broadcastable to the result, log-valued) when one is given.
    /// Returns (S1 or S0, B, O) values.
    /// </summary>
    internal virtual Tensor MatMulProduct(Tensor x, Tensor weight, long[] shape, long slotDim, Tensor? padded, Tensor? logUnitFactor)
    {
        using var scope = NewDisposeScope();
        var y = MatMul(x, weight).view(shape);
        if (padded is not null) y = y.masked_fill(padded, 0.0);
        var product = y.sum(slotDim);
        if (logUnitFactor is not null) product = product.AddInPlace(logUnitFactor);
        return product.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The maximum of <paramref name="x"/> over <paramref name="dim"/> (kept), detached, with non-finite values replaced
    /// by 0: the guarded shift of the max-subtraction trick, so a vector that is entirely −∞ yields −∞, never NaN.
    /// </summary>
    internal static Tensor SafeMax(Tensor x, long dim)
    {
        using var max = x.amax([dim], keepdim: true).detach();
        return max.nan_to_num(0.0, 0.0, 0.0);
    }

    /// <inheritdoc />
    public override string ToString() => Name;
}
