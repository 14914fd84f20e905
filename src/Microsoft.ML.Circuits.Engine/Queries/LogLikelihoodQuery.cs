using Microsoft.ML.Circuits.Semirings;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Queries;

/// <summary>The exact, normalised log-likelihood log p(x) = log c(x) − log Z of complete images.</summary>
public sealed class LogLikelihoodQuery : CircuitQuery
{
    /// <summary>Creates the query.</summary>
    public LogLikelihoodQuery(TensorizedCircuit circuit) : base(circuit) { }

    /// <summary>
    /// The sum-product semiring both passes (log c(x) and log Z) run over: <see cref="Semirings.Semiring.ScaledLinear"/>
    /// by default (<see cref="Semirings.Semiring.LogSumExp"/> for a circuit that prefers the native kernels), or
    /// <see cref="Semirings.Semiring.LogSumExp"/>, the reference; the results agree to float32
    /// rounding. <see cref="Semirings.Semiring.MaxPlus"/> is refused with an <see cref="ArgumentException"/>.
    /// </summary>
    public Semiring Semiring
    {
        get => field ?? Semiring.SumProductFor(Circuit);
        init => field = Semiring.RequireSumProduct(value, nameof(Semiring));
    }

    /// <summary>log p(x) for each image of <paramref name="x"/> (B, D, C), int64 values in 0..Categories−1; shape (B).</summary>
    public Tensor Evaluate(Tensor x)
    {
        Circuit.CheckBatch(x, null);
        return EvaluateUnchecked(Circuit, x, Semiring);
    }

    /// <summary>log p(x) for a batch whose shape, device and value range the caller has already checked (no host synchronisation).</summary>
    internal static Tensor EvaluateUnchecked(TensorizedCircuit circuit, Tensor x, Semiring semiring)
    {
        using var scope = NewDisposeScope();
        var logCircuit = MarginalQuery.Upward(circuit, x, null, semiring, null);
        return (logCircuit - new PartitionQuery(circuit, semiring).Evaluate()).MoveToOuterDisposeScope();
    }
}
