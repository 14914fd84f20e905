namespace Microsoft.ML.Circuits;

/// <summary>Options of the anomaly-detection trainer: the circuit options plus the anomaly score and the threshold rule.</summary>
public sealed class ProbabilisticCircuitAnomalyOptions : ProbabilisticCircuitOptions
{
    /// <summary>
    /// The anomaly score; the threshold is fitted on it. Null (the default) chooses after training with
    /// <see cref="AnomalyScores.Choose"/>: <see cref="AnomalyScore.LocalComplexity"/> (the best across the
    /// out-of-distribution benchmark in <c>docs/benchmarks.md</c>) when the circuit codes its training images clearly
    /// better than a <see cref="LocalPixelModel"/> does, <see cref="AnomalyScore.InputComplexity"/> otherwise. The
    /// fitted detector's <see cref="CircuitAnomalyDetectionTransformer.AnomalyScore"/> says which, and the training log
    /// why.
    /// </summary>
    public AnomalyScore? AnomalyScore { get; set; }

    /// <summary>The generic lossless codec of <see cref="AnomalyScore.InputComplexity"/> and <see cref="AnomalyScore.LocalComplexity"/> (default <see cref="ComplexityCodec.Deflate"/>, chosen by measurement).</summary>
    public ComplexityCodec ComplexityCodec { get; set; } = AnomalyScores.DefaultCodec;

    /// <summary>
    /// The perturbation rate of the <see cref="AnomalyScore.LikelihoodRatio"/> background model, in (0, 1] (default
    /// <see cref="PixelBackgroundModel.DefaultMutationRate"/>); unused by the other scores.
    /// </summary>
    public double BackgroundMutationRate { get; set; } = PixelBackgroundModel.DefaultMutationRate;

    /// <summary>The output column of the anomaly score (higher = more anomalous), default <c>Score</c>.</summary>
    public string ScoreColumnName { get; set; } = "Score";

    /// <summary>The output column of the predicted label (Score above the threshold), default <c>PredictedLabel</c>.</summary>
    public string PredictedLabelColumnName { get; set; } = "PredictedLabel";

    /// <summary>
    /// The threshold is this quantile of the training rows' scores (default 0.95: about 5 % of training-like rows are
    /// flagged). Must lie in (0, 1].
    /// </summary>
    public double ThresholdQuantile { get; set; } = 0.95;

    /// <summary>An explicit threshold on the score; overrides <see cref="ThresholdQuantile"/> when set.</summary>
    public float? Threshold { get; set; }
}
