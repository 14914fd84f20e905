using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Circuits;

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

    /// <summary>Trains the circuit (and the background model of a likelihood-ratio score) and fixes the threshold on the chosen score.</summary>
    public CircuitAnomalyDetectionTransformer Fit(IDataView input)
    {
        var (model, pixels, images) = CircuitFitting.Fit(host, input, options);
        try
        {
            int categories = Math.Min(model.Description.Categories, 256);
            BackgroundModel? background = options.AnomalyScore switch
            {
                AnomalyScore.LikelihoodRatio => PixelBackgroundModel.Fit(images, options.BackgroundMutationRate, categories),
                AnomalyScore.LocalComplexity => LocalPixelModel.Fit(images, categories),
                _ => null,
            };
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
