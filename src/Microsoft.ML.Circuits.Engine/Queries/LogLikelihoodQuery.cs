using Microsoft.ML.Circuits.Semirings;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Queries;

/// <summary>The exact, normalised log-likelihood log p(x) = log c(x) − log Z of complete images.</summary>
public sealed class LogLikelihoodQuery : CircuitQuery
{
    /// <summary>Creates the query.</summary>
    public LogLikelihoodQuery(TensorizedCircuit circuit) : base(circuit) { }

    /// <summary>log p(x) for each image of <paramref name="x"/> (B, D, C), int64 values in 0..Categories−1; shape (B).</summary>
    public Tensor Evaluate(Tensor x)
    {
        Circuit.CheckBatch(x, null);
        return EvaluateUnchecked(Circuit, x);
    }

    /// <summary>log p(x) for a batch whose shape, device and value range the caller has already checked (no host synchronisation).</summary>
    internal static Tensor EvaluateUnchecked(TensorizedCircuit circuit, Tensor x)
    {
        using var scope = NewDisposeScope();
        var logCircuit = MarginalQuery.Upward(circuit, x, null, Semiring.LogSumExp, null);
        return (logCircuit - new PartitionQuery(circuit).Evaluate()).MoveToOuterDisposeScope();
    }
}
