using Microsoft.ML.Circuits.Semirings;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Queries;

/// <summary>
/// The circuit with every input unit summed out over a semiring: log Z = log Σ_x c(x) under
/// <see cref="Semiring.LogSumExp"/> or <see cref="Semiring.ScaledLinear"/> (every input unit integrates to 1), or log max_x c_max(x) of the max-product
/// circuit under <see cref="Semiring.MaxPlus"/> (every input unit replaced by its most probable value).
/// </summary>
public sealed class PartitionQuery : CircuitQuery
{
    /// <summary>Creates the query; <paramref name="semiring"/> defaults to the library's sum-product semiring for log Z
    /// (<see cref="Semiring.ScaledLinear"/>; <see cref="Semiring.LogSumExp"/> is the reference it agrees with).</summary>
    public PartitionQuery(TensorizedCircuit circuit, Semiring? semiring = null) : base(circuit)
    {
        Semiring = semiring ?? Semiring.SumProductFor(circuit);
    }

    /// <summary>The semiring the circuit is evaluated over.</summary>
    public Semiring Semiring { get; }

    /// <summary>The value, shape (1).</summary>
    public Tensor Evaluate() => Evaluate(null);

    internal Tensor Evaluate(Tensor? logProbabilities)
    {
        using var scope = NewDisposeScope();
        using var inputs = Circuit.Input.Integral(Semiring, logProbabilities);
        return Circuit.Evaluate(inputs, Semiring).Root.MoveToOuterDisposeScope();
    }
}
