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
        if (options.AnomalyScore is { } chosen && !Enum.IsDefined(chosen))
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

    /// <summary>
    /// Trains the circuit (and the background model of the score that needs one), chooses the score when none is set
    /// (<see cref="AnomalyScores.Choose"/>) and fixes the threshold on it.
    /// </summary>
    public CircuitAnomalyDetectionTransformer Fit(IDataView input)
    {
        var (model, pixels, images) = CircuitFitting.Fit(host, input, options);
        try
        {
            int categories = Math.Min(model.Description.Categories, 256);
            var logLikelihoods = Training.Evaluation.LogLikelihoods(model.Circuit, images, model.Metadata.Scoring);
            // The local model is needed to choose the score (no score set) and by LocalComplexity itself.
            var local = options.AnomalyScore is null or AnomalyScore.LocalComplexity ? LocalPixelModel.Fit(images, categories) : null;
            var score = options.AnomalyScore ?? ChooseScore(logLikelihoods, images, local!);
            BackgroundModel? background = score switch
            {
                AnomalyScore.LikelihoodRatio => PixelBackgroundModel.Fit(images, options.BackgroundMutationRate, categories),
                AnomalyScore.LocalComplexity => local,
                _ => null,
            };
            float threshold = options.Threshold ?? Quantile(
                AnomalyScores.FromLogLikelihoods(logLikelihoods, images, score, options.ComplexityCodec, background), options.ThresholdQuantile);
            return new CircuitAnomalyDetectionTransformer(host, model, pixels.Name, options.ScoreColumnName, options.PredictedLabelColumnName,
                threshold, pixels.Layout, pixels.Scale, options.ScoringBatchSize, score, options.ComplexityCodec, background);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The automatic choice (<see cref="AnomalyScores.Choose"/>) on the training images, said in the training log.</summary>
    AnomalyScore ChooseScore(double[] logLikelihoods, Data.ImageDataset images, LocalPixelModel local)
    {
        var (score, circuit, localBits) = AnomalyScores.ChooseOn(logLikelihoods, images, local);
        using var channel = host.Start("Anomaly score");
        channel.Info(string.Format(System.Globalization.CultureInfo.InvariantCulture,
            "Anomaly score: {0} (the circuit codes the training images in {1:F3} bits per dimension, the local pixel model in {2:F3}; {3} needs the circuit at least {4} shorter).",
            score, circuit, localBits, AnomalyScore.LocalComplexity, AnomalyScores.LocalComplexityMargin));
        return score;
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
