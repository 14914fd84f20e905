using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Circuits;

/// <summary>
/// Fits a tensorized probabilistic circuit to images in a pixel column: <see cref="Fit"/> trains it (Adam, clamp,
/// early stopping on a validation split of the fitted rows) and returns a <see cref="ProbabilisticCircuitTransformer"/>
/// that adds <c>LogLikelihood</c> and <c>BitsPerDimension</c>. Create it with
/// <c>mlContext.Transforms.ProbabilisticCircuit(...)</c>.
/// </summary>
public sealed class ProbabilisticCircuitEstimator : IEstimator<ProbabilisticCircuitTransformer>
{
    readonly IHost host;
    readonly ProbabilisticCircuitOptions options;

    internal ProbabilisticCircuitEstimator(IHostEnvironment env, ProbabilisticCircuitOptions options)
    {
        ArgumentNullException.ThrowIfNull(env);
        CircuitFitting.Validate(options);
        host = env.Register(nameof(ProbabilisticCircuitEstimator));
        this.options = options;
    }

    /// <summary>Trains the circuit on <paramref name="input"/>'s pixel column.</summary>
    public ProbabilisticCircuitTransformer Fit(IDataView input)
    {
        var (model, pixels, _) = CircuitFitting.Fit(host, input, options);
        return new ProbabilisticCircuitTransformer(host, model, pixels.Name, options.OutputColumnName, options.BitsPerDimensionColumnName,
            pixels.Layout, pixels.Scale, options.ScoringBatchSize, options.AllowMissingPixels);
    }

    /// <summary>The input columns plus <c>LogLikelihood</c> and <c>BitsPerDimension</c> (Single scalars).</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        SchemaShapes.AddScalars(inputSchema, options.InputColumnName,
            (options.OutputColumnName, NumberDataViewType.Single), (options.BitsPerDimensionColumnName, NumberDataViewType.Single));
}
