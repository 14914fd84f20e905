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

    /// <summary>
    /// MAP completion by max-product: fills the pixels of <paramref name="x"/> (B, D, C) where <paramref name="missing"/>
    /// (B, D) is true with the completion that maximises the max-product circuit (max-plus upward pass, argmax
    /// backtracking down, ties to the lowest index; deterministic). Observed pixels are returned unchanged; values at
    /// missing pixels are ignored but must be in range. Shape (B, D, C), int64.
    /// </summary>
    /// <remarks>
    /// This is the exact maximiser of the max-product circuit, which is the exact MAP of p only for deterministic
    /// circuits. Tensorized circuits are not deterministic: this is the standard max-product approximation of MAP.
    /// </remarks>
    public Tensor Complete(Tensor x, Tensor missing)
    {
        ArgumentNullException.ThrowIfNull(missing);
        Circuit.CheckBatch(x, missing);
        return TopDown.Complete(Circuit, x, missing, Semiring.MaxPlus, UnitChooser.Argmax);
    }
}
