using Microsoft.ML;
using Microsoft.ML.Circuits;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

[assembly: LoadableClass(typeof(CircuitAnomalyDetectionTransformer), null, typeof(SignatureLoadModel),
    "Probabilistic Circuit Anomaly Detector", CircuitAnomalyDetectionTransformer.LoaderSignature)]

namespace Microsoft.ML.Circuits;

/// <summary>
/// A probabilistic circuit used as an anomaly detector: adds <c>Score</c> (the image's bits per dimension; higher =
/// less likely = more anomalous, <see cref="float"/>) and <c>PredictedLabel</c> (Score above <see cref="Threshold"/>,
/// <see cref="bool"/>), the columns <c>mlContext.AnomalyDetection.Evaluate</c> reads.
/// </summary>
public sealed class CircuitAnomalyDetectionTransformer : CircuitTransformerBase
{
    internal const string LoaderSignature = "ProbCircuitAnomaly";

    readonly AnomalyColumns outputs;

    internal CircuitAnomalyDetectionTransformer(IHostEnvironment env, CircuitModel model, string inputColumnName, string scoreColumnName,
        string predictedLabelColumnName, float threshold, ChannelLayout layout, float pixelScale, int scoringBatchSize)
        : base(env, nameof(CircuitAnomalyDetectionTransformer), model, inputColumnName, layout, pixelScale, scoringBatchSize)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(scoreColumnName);
        ArgumentException.ThrowIfNullOrWhiteSpace(predictedLabelColumnName);
        if (!float.IsFinite(threshold)) throw new ArgumentOutOfRangeException(nameof(threshold), threshold, "The threshold must be finite.");
        Threshold = threshold;
        outputs = new AnomalyColumns(this, scoreColumnName, predictedLabelColumnName);
    }

    /// <summary>Rows whose score (bits per dimension) exceeds this are predicted anomalous.</summary>
    public float Threshold { get; }

    /// <summary>The score column's name.</summary>
    public string ScoreColumnName => outputs.Score;

    /// <summary>The predicted-label column's name.</summary>
    public string PredictedLabelColumnName => outputs.PredictedLabel;

    internal override ScoreColumns Outputs => outputs;

    static VersionInfo GetVersionInfo() => new(
        modelSignature: "PCANOMAL",
        verWrittenCur: 0x00010001,
        verReadableCur: 0x00010001,
        verWeCanReadBack: 0x00010001,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(CircuitAnomalyDetectionTransformer).Assembly.FullName);

    private protected override void SaveModel(ModelSaveContext ctx)
    {
        ctx.CheckAtModel();
        ctx.SetVersionInfo(GetVersionInfo());
        ctx.SaveNonEmptyString(ScoreColumnName);
        ctx.SaveNonEmptyString(PredictedLabelColumnName);
        ctx.Writer.Write(Threshold);
        SaveCommon(ctx);
    }

    // Called by ML.NET's model loader (SignatureLoadModel).
    static CircuitAnomalyDetectionTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        ctx.CheckAtModel(GetVersionInfo());
        string score = ctx.LoadNonEmptyString();
        string label = ctx.LoadNonEmptyString();
        float threshold = ctx.Reader.ReadSingle();
        var (column, layout, scale, batch, model) = LoadCommon(ctx);
        return new CircuitAnomalyDetectionTransformer(env, model, column, score, label, threshold, layout, scale, batch);
    }

    sealed class AnomalyColumns(CircuitAnomalyDetectionTransformer owner, string score, string predictedLabel) : ScoreColumns
    {
        public string Score { get; } = score;
        public string PredictedLabel { get; } = predictedLabel;

        public override IReadOnlyList<(string Name, DataViewType Type)> Columns { get; } =
            [(score, NumberDataViewType.Single), (predictedLabel, BooleanDataViewType.Instance)];

        public override Delegate MakeGetter(int index, Func<double> ll) => index switch
        {
            0 => (ValueGetter<float>)((ref float value) => value = (float)owner.BitsPerDimension(ll())),
            1 => (ValueGetter<bool>)((ref bool value) => value = (float)owner.BitsPerDimension(ll()) > owner.Threshold),
            _ => throw new ArgumentOutOfRangeException(nameof(index)),
        };
    }
}
