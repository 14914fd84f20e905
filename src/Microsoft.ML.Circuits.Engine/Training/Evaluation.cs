using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Circuits.Queries;
using Microsoft.ML.Circuits.Semirings;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Training;

/// <summary>Evaluation of a circuit on a dataset: mean log-likelihood and bits per dimension.</summary>
public static class Evaluation
{
    /// <summary>Bits per dimension of a mean natural-log likelihood: −LL / (ln 2 · dimensions).</summary>
    public static double BitsPerDimension(double meanLogLikelihood, int dimensions) => -meanLogLikelihood / (Math.Log(2) * dimensions);

    /// <summary>The mean normalised log-likelihood (nats) of every image of <paramref name="data"/>, in batches, without gradients.</summary>
    public static double MeanLogLikelihood(TensorizedCircuit circuit, ImageDataset data, int batchSize = 512)
    {
        ArgumentNullException.ThrowIfNull(circuit);
        ArgumentNullException.ThrowIfNull(data);
        if (data.Count == 0) return double.NaN;
        double total = 0;
        foreach (var ll in LogLikelihoods(circuit, data, batchSize)) total += ll;
        return total / data.Count;
    }

    /// <summary>The normalised log-likelihood of each image, in order, on the managed reference (<see cref="ScoringMode.Reference"/>).</summary>
    public static double[] LogLikelihoods(TensorizedCircuit circuit, ImageDataset data, int batchSize = 512) =>
        LogLikelihoods(circuit, data, ScoringMode.Reference, batchSize);

    /// <summary>
    /// The normalised log-likelihood of each image, in order, computed as <paramref name="scoring"/> says — pass a
    /// model's <see cref="ModelMetadata.Scoring"/> to get the scores its ML.NET transformer gives.
    /// </summary>
    public static double[] LogLikelihoods(TensorizedCircuit circuit, ImageDataset data, ScoringMode scoring, int batchSize = 512)
    {
        ArgumentNullException.ThrowIfNull(circuit);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        CheckData(circuit.Description, data);
        var semiring = Semiring.ScoringFor(scoring, circuit);
        var result = new double[data.Count];
        using var _ = torch.no_grad();
        using var logZ = new PartitionQuery(circuit, semiring).Evaluate();
        // The fast path reads the input layer's table computed once (in scaled-linear form where it can), as the
        // transformers' scorer does, so that both give the same bits (the fused input node of the scaled-linear path
        // rounds differently); the reference is unchanged.
        using var table = scoring == ScoringMode.Fast ? circuit.Input.LogProbabilities() : null;
        using var scaledTable = table is null ? null : circuit.ScaledInputTable(table, semiring);
        for (int start = 0; start < data.Count; start += batchSize)
        {
            using var scope = NewDisposeScope();
            int count = Math.Min(batchSize, data.Count - start);
            var x = data.Batch(start, count, circuit.Device);
            var ll = (MarginalQuery.Upward(circuit, x, null, semiring, table, scaledTable) - logZ).to(ScalarType.Float64).cpu();
            ll.data<double>().CopyTo(result.AsSpan(start, count));
        }
        return result;
    }

    /// <summary>Throws when the images do not have the shape the circuit models or hold values outside its categories.</summary>
    public static void CheckData(CircuitDescription description, ImageDataset data)
    {
        CheckShape(description, data);
        if (data.MaxValue >= description.Categories)
            throw new ArgumentOutOfRangeException(nameof(data),
                $"{data.Name} holds pixel value {data.MaxValue}, but the circuit models values 0..{description.Categories - 1} (Categories = {description.Categories}).");
    }

    /// <summary>Throws when the images do not have the shape the circuit models.</summary>
    public static void CheckShape(CircuitDescription description, ImageDataset data)
    {
        if (data.Height != description.ImageHeight || data.Width != description.ImageWidth || data.Channels != description.Channels)
            throw new ArgumentException(
                $"{data.Name} holds {data.Height}×{data.Width}×{data.Channels} images but the circuit models {description.ImageHeight}×{description.ImageWidth}×{description.Channels}.", nameof(data));
    }
}
