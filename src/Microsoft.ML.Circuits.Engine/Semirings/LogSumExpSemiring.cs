using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Semirings;

/// <summary>
/// Sum-product in log space with the max-subtraction trick: subtract each vector's (guarded) maximum, exponentiate,
/// apply the linear map, take the log and add the maximum back.
/// </summary>
internal sealed class LogSumExpSemiring : Semiring
{
    /// <param name="reference">
    /// Whether this instance is the bit-for-bit reference (<see cref="Semiring.Scoring"/>): computed by the managed
    /// kernel on every layer unless the circuit explicitly prefers the native kernels.
    /// </param>
    public LogSumExpSemiring(bool reference = false) => IsReference = reference;

    /// <summary>Whether results must be those of the managed kernel, bit for bit (<see cref="Semiring.Scoring"/>).</summary>
    public bool IsReference { get; }

    public override string Name => "log-sum-exp";

    public override Tensor MatMul(Tensor x, Tensor weight)
    {
        using var scope = NewDisposeScope();
        var max = SafeMax(x, -1);
        var linear = torch.bmm((x - max).exp_(), weight);
        return linear.log_().AddInPlace(max).MoveToOuterDisposeScope();
    }

    public override Tensor OuterMatMul(Tensor left, Tensor right, Tensor weight)
    {
        using var scope = NewDisposeScope();
        long folds = left.shape[0], batch = left.shape[1], i = left.shape[2], j = right.shape[2];
        var leftMax = SafeMax(left, -1);
        var rightMax = SafeMax(right, -1);
        var outer = (left - leftMax).exp_().unsqueeze(3) * (right - rightMax).exp_().unsqueeze(2);
        var linear = torch.bmm(outer.view(folds, batch, i * j), weight);
        return linear.log_().AddInPlace(leftMax).AddInPlace(rightMax).MoveToOuterDisposeScope();
    }

    public override Tensor WeightedSum(Tensor x, Tensor weight, long dim)
    {
        using var scope = NewDisposeScope();
        var max = SafeMax(x, dim);
        var linear = ((x - max).exp_() * weight).sum(dim);
        return linear.log_().AddInPlace(max.squeeze(dim)).MoveToOuterDisposeScope();
    }

    public override Tensor Sum(Tensor x, long dim) => x.logsumexp(dim);

    public override bool SumOfNormalizedIsZero => true;
}
