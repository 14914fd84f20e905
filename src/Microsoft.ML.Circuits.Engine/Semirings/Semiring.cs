using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Semirings;

/// <summary>
/// How a circuit's sums are computed over log-values. Products are always additions of log-values; what differs is the
/// sum: <see cref="LogSumExp"/> (sum-product in log space: likelihoods, marginals, log Z) or <see cref="MaxPlus"/>
/// (max-product in log space: the max-product circuit used for MAP). Layers compute through these operations only,
/// so one layer serves every query. Weights are always non-negative and linear; values are log-values, −∞ allowed.
/// </summary>
public abstract class Semiring
{
    private protected Semiring() { }

    /// <summary>Sum-product in log space: ⊕ = log-sum-exp, ⊗ = +.</summary>
    public static Semiring LogSumExp { get; } = new LogSumExpSemiring();

    /// <summary>Max-product in log space: ⊕ = max, ⊗ = +.</summary>
    public static Semiring MaxPlus { get; } = new MaxPlusSemiring();

    /// <summary>A short name (<c>log-sum-exp</c>, <c>max-plus</c>).</summary>
    public abstract string Name { get; }

    /// <summary>
    /// ⊕_i x[n,b,i] ⊗ log w[n,i,o] for a batch of matrices: <paramref name="x"/> (N, B, I) log-values,
    /// <paramref name="weight"/> (N, I, O) non-negative and linear; returns (N, B, O) log-values.
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
