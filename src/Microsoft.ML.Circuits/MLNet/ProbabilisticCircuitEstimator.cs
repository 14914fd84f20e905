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
            pixels.Layout, pixels.Scale, options.ScoringBatchSize);
    }

    /// <summary>The input columns plus <c>LogLikelihood</c> and <c>BitsPerDimension</c> (Single scalars).</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        SchemaShapes.AddScalars(inputSchema, options.InputColumnName,
            (options.OutputColumnName, NumberDataViewType.Single), (options.BitsPerDimensionColumnName, NumberDataViewType.Single));
}

/// <summary>
/// Trains a probabilistic circuit as an anomaly detector: the fitted transformer emits <c>Score</c> (the chosen
/// <see cref="AnomalyScore"/>; higher = more anomalous) and <c>PredictedLabel</c> (Score above a threshold: a quantile
/// of the training rows' scores). Create it with <c>mlContext.AnomalyDetection.Trainers.ProbabilisticCircuit(...)</c>.
/// </summary>
public sealed class ProbabilisticCircuitAnomalyTrainer : IEstimator<CircuitAnomalyDetectionTransformer>
{
    readonly IHost host;
    readonly ProbabilisticCircuitAnomalyOptions options;

    internal ProbabilisticCircuitAnomalyTrainer(IHostEnvironment env, ProbabilisticCircuitAnomalyOptions options)
    {
        ArgumentNullException.ThrowIfNull(env);
        CircuitFitting.Validate(options);
        if (!(options.ThresholdQuantile > 0 && options.ThresholdQuantile <= 1))
            throw new ArgumentOutOfRangeException(nameof(options.ThresholdQuantile), options.ThresholdQuantile, "ThresholdQuantile must lie in (0, 1].");
        if (options.Threshold is { } t && !float.IsFinite(t))
            throw new ArgumentOutOfRangeException(nameof(options.Threshold), t, "Threshold must be finite.");
        if (!Enum.IsDefined(options.AnomalyScore))
            throw new ArgumentOutOfRangeException(nameof(options.AnomalyScore), options.AnomalyScore,
                $"Unknown anomaly score; expected one of: {string.Join(", ", Enum.GetNames<AnomalyScore>())}.");
        if (!Enum.IsDefined(options.ComplexityCodec))
            throw new ArgumentOutOfRangeException(nameof(options.ComplexityCodec), options.ComplexityCodec,
                $"Unknown complexity codec; expected one of: {string.Join(", ", Enum.GetNames<ComplexityCodec>())}.");
        if (!(options.BackgroundMutationRate > 0 && options.BackgroundMutationRate <= 1))
            throw new ArgumentOutOfRangeException(nameof(options.BackgroundMutationRate), options.BackgroundMutationRate, "BackgroundMutationRate must lie in (0, 1].");
        host = env.Register(nameof(ProbabilisticCircuitAnomalyTrainer));
        this.options = options;
    }

    /// <summary>Trains the circuit (and the background model of <see cref="AnomalyScore.LikelihoodRatio"/>) and fixes the threshold on the chosen score.</summary>
    public CircuitAnomalyDetectionTransformer Fit(IDataView input)
    {
        var (model, pixels, images) = CircuitFitting.Fit(host, input, options);
        try
        {
            var background = options.AnomalyScore == AnomalyScore.LikelihoodRatio
                ? PixelBackgroundModel.Fit(images, options.BackgroundMutationRate, Math.Min(model.Description.Categories, 256))
                : null;
            float threshold = options.Threshold ?? Quantile(
                AnomalyScores.Compute(model.Circuit, images, options.AnomalyScore, options.ComplexityCodec, background), options.ThresholdQuantile);
            return new CircuitAnomalyDetectionTransformer(host, model, pixels.Name, options.ScoreColumnName, options.PredictedLabelColumnName,
                threshold, pixels.Layout, pixels.Scale, options.ScoringBatchSize, options.AnomalyScore, options.ComplexityCodec, background);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The nearest-rank quantile q of <paramref name="values"/>.</summary>
    internal static float Quantile(double[] values, double q)
    {
        Array.Sort(values);
        int index = Math.Clamp((int)Math.Ceiling(q * values.Length) - 1, 0, values.Length - 1);
        return (float)values[index];
    }

    /// <summary>The input columns plus <c>Score</c> (Single) and <c>PredictedLabel</c> (Boolean).</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        SchemaShapes.AddScalars(inputSchema, options.InputColumnName,
            (options.ScoreColumnName, NumberDataViewType.Single), (options.PredictedLabelColumnName, BooleanDataViewType.Instance));
}

internal static class SchemaShapes
{
    public static SchemaShape AddScalars(SchemaShape inputSchema, string inputColumnName, params (string Name, DataViewType Type)[] outputs)
    {
        if (!inputSchema.TryFindColumn(inputColumnName, out var column))
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"Input column '{inputColumnName}' not found; the data has: {string.Join(", ", inputSchema.Select(c => c.Name))}.");
        if (column.Kind != SchemaShape.Column.VectorKind.Vector || (column.ItemType != NumberDataViewType.Single && column.ItemType != NumberDataViewType.Byte))
            throw new ArgumentOutOfRangeException(nameof(inputSchema),
                $"Input column '{inputColumnName}' must be a known-size vector of Single or Byte pixel values, but it is {column.Kind} of {column.ItemType}.");
        var result = inputSchema.ToDictionary(c => c.Name);
        foreach (var (name, type) in outputs)
            result[name] = new SchemaShape.Column(name, SchemaShape.Column.VectorKind.Scalar, type, false);
        return new SchemaShape(result.Values);
    }
}
