using Microsoft.ML.Circuits.Semirings;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Queries;

/// <summary>
/// Exact marginals: log p(x_observed) = log Σ_{x_missing} c(x) − log Z, with the pixels marked missing summed out
/// (all their channels) by replacing their input units with their integral, 1. One upward pass, no enumeration.
/// </summary>
public sealed class MarginalQuery : CircuitQuery
{
    /// <summary>Creates the query.</summary>
    public MarginalQuery(TensorizedCircuit circuit) : base(circuit) { }

    /// <summary>
    /// The sum-product semiring the passes (log c(x) and log Z) run over: <see cref="Semirings.Semiring.ScaledLinear"/>
    /// by default (<see cref="Semirings.Semiring.LogSumExp"/> for a circuit that prefers the native kernels), or
    /// <see cref="Semirings.Semiring.LogSumExp"/>, the reference; the results agree to float32
    /// rounding. <see cref="Semirings.Semiring.MaxPlus"/> is refused with an <see cref="ArgumentException"/>.
    /// </summary>
    public Semiring Semiring
    {
        get => field ?? Semiring.SumProductFor(Circuit);
        init => field = Semiring.RequireSumProduct(value, nameof(Semiring));
    }

    /// <summary>log p(x_observed) for each image of <paramref name="x"/> (B, D, C), pixels where <paramref name="missing"/> (B, D) is true summed out; shape (B).</summary>
    public Tensor Evaluate(Tensor x, Tensor missing)
    {
        ArgumentNullException.ThrowIfNull(missing);
        using var scope = NewDisposeScope();
        return (LogCircuit(x, missing) - new PartitionQuery(Circuit, Semiring).Evaluate()).MoveToOuterDisposeScope();
    }

    /// <summary>log Σ_{x_missing} c(x), unnormalised, for each image; <paramref name="missing"/> may be null (no pixel missing). Shape (B).</summary>
    public Tensor LogCircuit(Tensor x, Tensor? missing)
    {
        Circuit.CheckBatch(x, missing);
        return Upward(Circuit, x, missing, Semiring, null);
    }

    /// <summary>
    /// One upward pass over <paramref name="semiring"/> without validating values (the caller has). A scorer's caches:
    /// <paramref name="logProbabilities"/>, the input layer's table, and <paramref name="scaledTable"/>, the same table
    /// in scaled-linear form (<see cref="TensorizedCircuit.ScaledInputTable"/>), read when no pixel is missing.
    /// </summary>
    internal static Tensor Upward(TensorizedCircuit circuit, Tensor x, Tensor? missing, Semiring semiring, Tensor? logProbabilities,
        Tensor? scaledTable = null)
    {
        if (missing is null && scaledTable is not null) return circuit.UpwardScaledTable(x, scaledTable);
        using var scope = NewDisposeScope();
        if (missing is null && logProbabilities is null && circuit.EvaluateScaledPixels(x, semiring) is { } fused)
            return fused.Root.MoveToOuterDisposeScope();
        using var inputs = circuit.Input.Forward(x, missing, semiring, logProbabilities);
        return circuit.Evaluate(inputs, semiring).Root.MoveToOuterDisposeScope();
    }
}
