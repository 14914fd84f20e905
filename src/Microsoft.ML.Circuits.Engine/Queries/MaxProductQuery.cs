using Microsoft.ML.Circuits.Semirings;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Queries;

/// <summary>
/// The max-product circuit: every sum replaced by a maximum (<see cref="Semiring.MaxPlus"/>). For each image it gives
/// log max_{x_missing} c_max(x), the largest value the max-product circuit reaches over completions of the missing
/// pixels (all pixels missing: its maximum over every image). This is the upward pass of MAP completion; it equals the
/// circuit's own MAP value only for deterministic circuits, which these are not.
/// </summary>
public sealed class MaxProductQuery : CircuitQuery
{
    /// <summary>Creates the query.</summary>
    public MaxProductQuery(TensorizedCircuit circuit) : base(circuit) { }

    /// <summary>
    /// log max over completions of the max-product circuit's unnormalised value, for each image of <paramref name="x"/>
    /// (B, D, C); pixels where <paramref name="missing"/> (B, D) is true are maximised over (null: none). Shape (B).
    /// </summary>
    public Tensor Evaluate(Tensor x, Tensor? missing = null)
    {
        Circuit.CheckBatch(x, missing);
        return MarginalQuery.Upward(Circuit, x, missing, Semiring.MaxPlus, null);
    }

    /// <summary>log max_x c_max(x) over every image; shape (1).</summary>
    public Tensor Maximum() => new PartitionQuery(Circuit, Semiring.MaxPlus).Evaluate();
}
