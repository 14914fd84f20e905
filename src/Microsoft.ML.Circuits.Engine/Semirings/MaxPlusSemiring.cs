using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Semirings;

/// <summary>
/// Max-product in log space: every sum becomes a maximum of log-values plus log-weights (log 0 = −∞, so zero
/// weights never win). Contractions loop over the output units to keep memory at one (N, B, I) slice at a time.
/// </summary>
internal sealed class MaxPlusSemiring : Semiring
{
    public override string Name => "max-plus";

    public override Tensor MatMul(Tensor x, Tensor weight)
    {
        using var scope = NewDisposeScope();
        var logWeight = weight.log();
        long outputs = weight.shape[2];
        var columns = new Tensor[outputs];
        for (long o = 0; o < outputs; o++)
            columns[o] = x.Plus(logWeight.select(2, o).unsqueeze(1)).amax([-1]);
        return torch.stack(columns, -1).MoveToOuterDisposeScope();
    }

    public override Tensor OuterMatMul(Tensor left, Tensor right, Tensor weight)
    {
        using var scope = NewDisposeScope();
        long folds = left.shape[0], batch = left.shape[1], i = left.shape[2], j = right.shape[2];
        var outer = left.unsqueeze(3).Plus(right.unsqueeze(2)).view(folds, batch, i * j);
        return MatMul(outer, weight).MoveToOuterDisposeScope();
    }

    public override Tensor WeightedSum(Tensor x, Tensor weight, long dim)
    {
        using var scope = NewDisposeScope();
        return x.Plus(weight.log()).amax([dim]).MoveToOuterDisposeScope();
    }

    public override Tensor Sum(Tensor x, long dim) => x.amax([dim]);

    public override bool SumOfNormalizedIsZero => false;
}
