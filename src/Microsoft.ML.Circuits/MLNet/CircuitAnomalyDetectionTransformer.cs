using System.Runtime.CompilerServices;
using Microsoft.ML;
using Microsoft.ML.Circuits;
using Microsoft.ML.Circuits.Onnx;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

[assembly: LoadableClass(typeof(CircuitAnomalyDetectionTransformer), null, typeof(SignatureLoadModel),
    "Probabilistic Circuit Anomaly Detector", CircuitAnomalyDetectionTransformer.LoaderSignature)]

namespace Microsoft.ML.Circuits;

/// <summary>
/// A probabilistic circuit used as an anomaly detector: adds <c>Score</c> (the image's anomaly score, see
/// <see cref="AnomalyScore"/>; higher = more anomalous, <see cref="float"/>) and <c>PredictedLabel</c> (Score above
/// <see cref="Threshold"/>, <see cref="bool"/>), the columns <c>mlContext.AnomalyDetection.Evaluate</c> reads.
/// </summary>
public sealed class CircuitAnomalyDetectionTransformer : CircuitTransformerBase
{
    internal const string LoaderSignature = "ProbCircuitAnomaly";

    /// <summary>The first format: bits per dimension only (no score field).</summary>
    internal const uint VersionBitsPerDimensionOnly = 0x00010001;

    /// <summary>Adds the score kind and the complexity codec after the threshold, and the background model stream.</summary>
    internal const uint VersionWithScore = 0x00010002;

    /// <summary>
    /// Same layout; adds <see cref="AnomalyScore.LocalComplexity"/>, whose background stream holds a
    /// <see cref="LocalPixelModel"/>. Readers of 0x00010002 do not know that score, so they are told the zip is newer.
    /// </summary>
    internal const uint VersionWithLocalBackground = 0x00010003;

    internal const string BackgroundStreamName = "Background.bin";

    readonly AnomalyColumns outputs;

    internal CircuitAnomalyDetectionTransformer(IHostEnvironment env, CircuitModel model, string inputColumnName, string scoreColumnName,
        string predictedLabelColumnName, float threshold, ChannelLayout layout, float pixelScale, int scoringBatchSize,
        AnomalyScore score, ComplexityCodec codec, BackgroundModel? background)
        : base(env, nameof(CircuitAnomalyDetectionTransformer), model, inputColumnName, layout, pixelScale, scoringBatchSize)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(scoreColumnName);
        ArgumentException.ThrowIfNullOrWhiteSpace(predictedLabelColumnName);
        if (!float.IsFinite(threshold)) throw new ArgumentOutOfRangeException(nameof(threshold), threshold, "The threshold must be finite.");
        var d = model.Description;
        AnomalyScores.Check(score, codec, background, d.ImageHeight, d.ImageWidth, d.Channels);
        Threshold = threshold;
        AnomalyScore = score;
        ComplexityCodec = codec;
        Background = score is AnomalyScore.LikelihoodRatio or AnomalyScore.LocalComplexity ? background : null;
        outputs = new AnomalyColumns(this, scoreColumnName, predictedLabelColumnName);
    }

    /// <summary>Rows whose score exceeds this are predicted anomalous.</summary>
    public float Threshold { get; }

    /// <summary>The score this detector emits (models saved before scores were selectable use <see cref="AnomalyScore.BitsPerDimension"/>).</summary>
    public AnomalyScore AnomalyScore { get; }

    /// <summary>The codec of <see cref="AnomalyScore.InputComplexity"/> and <see cref="AnomalyScore.LocalComplexity"/> (stored, but unused by the other scores).</summary>
    public ComplexityCodec ComplexityCodec { get; }

    /// <summary>
    /// The background model of a likelihood-ratio score (a <see cref="PixelBackgroundModel"/> for
    /// <see cref="AnomalyScore.LikelihoodRatio"/>, a <see cref="LocalPixelModel"/> for
    /// <see cref="AnomalyScore.LocalComplexity"/>); null for the other scores.
    /// </summary>
    public BackgroundModel? Background { get; }

    /// <summary>The score column's name.</summary>
    public string ScoreColumnName => outputs.Score;

    /// <summary>The predicted-label column's name.</summary>
    public string PredictedLabelColumnName => outputs.PredictedLabel;

    internal override ScoreColumns Outputs => outputs;

    /// <summary>Scores the batch's log-likelihoods, then turns each into this detector's anomaly score.</summary>
    internal override void Score(ScoredBatch batch, int count)
    {
        base.Score(batch, count);
        var d = Description;
        int size = Pixels.Size;
        for (int i = 0; i < count; i++)
            batch.Scores[i] = AnomalyScores.FromLogLikelihood(batch.Scores[i], batch.Pixels.AsSpan(i * size, size), d.ImageHeight, d.ImageWidth, d.Channels,
                AnomalyScore, ComplexityCodec, Background);
    }

    /// <summary>
    /// The exported graph's <c>score</c> (this detector's anomaly score, float [N]) and <c>predicted_label</c>
    /// (score &gt; <see cref="Threshold"/>, bool [N]). Bits per dimension and the likelihood ratio are standard operators;
    /// the complexity scores need a lossless image codec, which ONNX has not.
    /// </summary>
    private protected override void AddOnnxOutputs(OnnxCircuitGraph graph, Dictionary<string, string> metadata)
    {
        var g = graph.Graph;
        var d = Description;
        string score;
        switch (AnomalyScore)
        {
            case AnomalyScore.BitsPerDimension:
                score = g.Add("Identity", "anomaly", [graph.BitsPerDimension], output: OnnxScoreOutput);
                break;
            case AnomalyScore.LikelihoodRatio:
            {
                var background = (PixelBackgroundModel)Background!;
                var table = new float[(long)d.Dimensions * d.Categories];
                Array.Fill(table, float.NegativeInfinity);
                var source = background.LogProbabilityTable;
                for (int v = 0; v < d.Dimensions; v++)
                    source.Slice(v * background.Categories, Math.Min(background.Categories, d.Categories)).CopyTo(table.AsSpan(v * d.Categories));
                string picked = g.Add("Gather", "anomaly", [g.Constant("anomaly/background_log_probabilities", table, table.Length), graph.PixelRows], [("axis", 0L)]);
                string backgroundLogLikelihood = g.Add("ReduceSum", "anomaly", [picked, g.Ints(0, 1)], [("keepdims", 0L)]);
                // bpd − bpd_background = bpd + log q(x) / (ln 2 · D).
                string scaled = g.Add("Mul", "anomaly", [backgroundLogLikelihood, g.Scalar("anomaly/inverse_ln2_dimensions", (float)(1 / (Math.Log(2) * d.Dimensions)))]);
                score = g.Add("Add", "anomaly", [graph.BitsPerDimension, scaled], output: OnnxScoreOutput);
                break;
            }
            default:
                throw new NotSupportedException(
                    $"The {AnomalyScore} anomaly score needs the image's compressed size ({ComplexityCodec}), which standard ONNX operators cannot compute. " +
                    "Export a detector fitted with AnomalyScore.BitsPerDimension or LikelihoodRatio, or export the density " +
                    "(log_likelihood, bits_per_dimension) and subtract the complexity in the host.");
        }
        string label = g.Add("Greater", "anomaly", [score, g.Scalar("anomaly/threshold", Threshold)], output: OnnxPredictedLabelOutput);
        object[] batch = [OnnxGraph.BatchDimension];
        g.AddOutput(score, OnnxElementType.Float, batch, $"Anomaly score ({AnomalyScore}); higher = more anomalous.");
        g.AddOutput(label, OnnxElementType.Bool, batch, $"score > {Threshold.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}.");
        metadata["anomaly_score"] = AnomalyScore.ToString();
        metadata["anomaly_threshold"] = Threshold.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
    }

    internal const string OnnxScoreOutput = "score";
    internal const string OnnxPredictedLabelOutput = "predicted_label";

    static VersionInfo GetVersionInfo() => new(
        modelSignature: "PCANOMAL",
        verWrittenCur: VersionWithLocalBackground,
        verReadableCur: VersionWithLocalBackground,
        verWeCanReadBack: VersionBitsPerDimensionOnly,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(CircuitAnomalyDetectionTransformer).Assembly.FullName);

    private protected override void SaveModel(ModelSaveContext ctx)
    {
        ctx.CheckAtModel();
        ctx.SetVersionInfo(GetVersionInfo());
        ctx.SaveNonEmptyString(ScoreColumnName);
        ctx.SaveNonEmptyString(PredictedLabelColumnName);
        ctx.Writer.Write(Threshold);
        ctx.Writer.Write((int)AnomalyScore);
        ctx.Writer.Write((int)ComplexityCodec);
        SaveCommon(ctx);
        if (Background is { } background)
            ctx.SaveBinaryStream(BackgroundStreamName, writer => background.Save(writer));
    }

    // Called by ML.NET's model loader (SignatureLoadModel). Load binds ML.NET internals: the contract check runs first;
    // whatever then fails while reading the transformer's folder reaches the caller as our InvalidDataException.
    static CircuitAnomalyDetectionTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        MLNetContract.EnsureSatisfied();
        return Loading(() => Load(env, ctx));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static CircuitAnomalyDetectionTransformer Load(IHostEnvironment env, ModelLoadContext ctx)
    {
        ctx.CheckAtModel(GetVersionInfo());
        string score = ctx.LoadNonEmptyString();
        string label = ctx.LoadNonEmptyString();
        float threshold = ctx.Reader.ReadSingle();
        var kind = AnomalyScore.BitsPerDimension;
        var codec = AnomalyScores.DefaultCodec;
        if (ctx.Header.ModelVerWritten >= VersionWithScore)
        {
            kind = (AnomalyScore)ctx.Reader.ReadInt32();
            if (!Enum.IsDefined(kind)) throw new InvalidDataException($"The model zip is corrupt: unknown anomaly score {(int)kind}.");
            codec = (ComplexityCodec)ctx.Reader.ReadInt32();
            if (!Enum.IsDefined(codec)) throw new InvalidDataException($"The model zip is corrupt: unknown complexity codec {(int)codec}.");
        }
        var (column, layout, scale, batch, model) = LoadCommon(ctx);
        BackgroundModel? background = null;
        string source = $"the model zip's {BackgroundStreamName}";
        if (kind is AnomalyScore.LikelihoodRatio or AnomalyScore.LocalComplexity &&
            !ctx.TryLoadBinaryStream(BackgroundStreamName, reader => background = kind == AnomalyScore.LikelihoodRatio
                ? PixelBackgroundModel.Load(reader, source)
                : LocalPixelModel.Load(reader, source)))
        {
            model.Dispose();
            throw new InvalidDataException($"The model zip scores with {kind} but has no {BackgroundStreamName} stream for its background model.");
        }
        return new CircuitAnomalyDetectionTransformer(env, model, column, score, label, threshold, layout, scale, batch, kind, codec, background);
    }

    sealed class AnomalyColumns(CircuitAnomalyDetectionTransformer owner, string score, string predictedLabel) : ScoreColumns
    {
        public string Score { get; } = score;
        public string PredictedLabel { get; } = predictedLabel;

        public override IReadOnlyList<(string Name, DataViewType Type)> Columns { get; } =
            [(score, NumberDataViewType.Single), (predictedLabel, BooleanDataViewType.Instance)];

        // The value each getter receives is already the anomaly score (see Score above).
        public override Delegate MakeGetter(int index, Func<double> anomalyScore) => index switch
        {
            0 => (ValueGetter<float>)((ref float value) => value = (float)anomalyScore()),
            1 => (ValueGetter<bool>)((ref bool value) => value = (float)anomalyScore() > owner.Threshold),
            _ => throw new ArgumentOutOfRangeException(nameof(index)),
        };
    }
}
