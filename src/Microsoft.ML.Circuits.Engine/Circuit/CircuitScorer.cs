using Microsoft.ML.Circuits.Queries;
using Microsoft.ML.Circuits.Semirings;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits;

/// <summary>
/// Scores batches with a circuit whose weights rarely change (a transformer's): it keeps log Z and the input layer's
/// log-probability table, which dominate the cost of scoring few images, and recomputes them when the circuit's
/// <see cref="TensorizedCircuit.ParameterVersion"/> moves. The caches belong to the scorer, never to the circuit, so
/// training the circuit elsewhere always sees its current weights. Scores are computed as the model's
/// <see cref="ModelMetadata.Scoring"/> says, read at every batch. Thread-safe; one batch at a time.
/// </summary>
internal sealed class CircuitScorer(CircuitModel model) : IDisposable
{
    readonly object gate = new();
    Tensor? logPartition, logProbabilities, scaledTable;
    long version = -1;
    Semiring? semiring;
    LayerKernelPreference preference;

    public TensorizedCircuit Circuit => model.Circuit;

    /// <summary>log p(x) of a batch (B, D, C) whose values the caller has validated; float64 on the CPU, shape (B).</summary>
    public double[] LogLikelihoods(Tensor x) => MarginalLogLikelihoods(x, null);

    /// <summary>
    /// log p(x_observed) of a validated batch (B, D, C) with the pixels marked in <paramref name="missing"/> (B, D)
    /// summed out (none when null); float64 on the CPU, shape (B).
    /// </summary>
    public double[] MarginalLogLikelihoods(Tensor x, Tensor? missing)
    {
        lock (gate)
        {
            using var _ = torch.no_grad();
            using var scope = NewDisposeScope();
            Refresh();
            var logCircuit = MarginalQuery.Upward(Circuit, x, missing, semiring!, logProbabilities, scaledTable);
            return (logCircuit - logPartition!).to(ScalarType.Float64).cpu().data<double>().ToArray();
        }
    }

    void Refresh()
    {
        long current = Circuit.ParameterVersion;
        var wanted = Semiring.ScoringFor(model.Metadata.Scoring, Circuit);
        // The caches depend on the weights, the semiring and the kernels (the scaled table is read by the native gather).
        if (current == version && wanted == semiring && Circuit.KernelPreference == preference && logPartition is not null) return;
        Release();
        logProbabilities = Circuit.Input.LogProbabilities().detach().DetachFromDisposeScope();
        logPartition = new PartitionQuery(Circuit, wanted).Evaluate().detach().DetachFromDisposeScope();
        scaledTable = Circuit.ScaledInputTable(logProbabilities, wanted)?.DetachFromDisposeScope();
        version = current;
        semiring = wanted;
        preference = Circuit.KernelPreference;
    }

    void Release()
    {
        logPartition?.Dispose();
        logProbabilities?.Dispose();
        scaledTable?.Dispose();
        logPartition = logProbabilities = scaledTable = null;
    }

    public void Dispose()
    {
        lock (gate) Release();
    }
}
