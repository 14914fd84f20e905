using System.Runtime.CompilerServices;
using Microsoft.ML;
using Microsoft.ML.Circuits;
using Microsoft.ML.Circuits.Compression;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

[assembly: LoadableClass(typeof(ProbabilisticCircuitTransformer), null, typeof(SignatureLoadModel),
    "Probabilistic Circuit Transformer", ProbabilisticCircuitTransformer.LoaderSignature)]

namespace Microsoft.ML.Circuits;

/// <summary>
/// A trained probabilistic circuit as an ML.NET transformer: adds the normalised log-likelihood (natural log,
/// <see cref="float"/>) and the bits per dimension of each row's image. Created by
/// <see cref="ProbabilisticCircuitEstimator.Fit"/>; saved and loaded with <c>mlContext.Model.Save</c> /
/// <c>Load</c> (no registration call is needed to load).
/// </summary>
public sealed class ProbabilisticCircuitTransformer : CircuitTransformerBase
{
    internal const string LoaderSignature = "ProbCircuitTransform";

    readonly DensityColumns outputs;

    internal ProbabilisticCircuitTransformer(IHostEnvironment env, CircuitModel model, string inputColumnName, string outputColumnName,
        string bitsPerDimensionColumnName, ChannelLayout layout, float pixelScale, int scoringBatchSize)
        : base(env, nameof(ProbabilisticCircuitTransformer), model, inputColumnName, layout, pixelScale, scoringBatchSize)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(outputColumnName);
        ArgumentException.ThrowIfNullOrWhiteSpace(bitsPerDimensionColumnName);
        if (outputColumnName == bitsPerDimensionColumnName)
            throw new ArgumentException($"The log-likelihood and bits-per-dimension columns need different names; both are '{outputColumnName}'.", nameof(bitsPerDimensionColumnName));
        outputs = new DensityColumns(this, outputColumnName, bitsPerDimensionColumnName);
    }

    internal override ScoreColumns Outputs => outputs;

    /// <summary>
    /// Wraps an existing circuit model (trained elsewhere, e.g. by the command line, or loaded from a payload file) as
    /// a transformer. The transformer owns <paramref name="model"/> from now on.
    /// </summary>
    /// <param name="mlContext">The ML.NET context.</param>
    /// <param name="model">The circuit and its weights.</param>
    /// <param name="inputColumnName">The pixel column to read.</param>
    /// <param name="outputColumnName">The log-likelihood column to add.</param>
    /// <param name="bitsPerDimensionColumnName">The bits-per-dimension column to add.</param>
    /// <param name="pixelScale">1 for 0..255 values, 255 for 0..1 values.</param>
    /// <param name="channelLayout">Layout of multi-channel vectors.</param>
    /// <param name="scoringBatchSize">Rows scored per circuit call.</param>
    public static ProbabilisticCircuitTransformer FromModel(MLContext mlContext, CircuitModel model, string inputColumnName = "Pixels",
        string outputColumnName = "LogLikelihood", string bitsPerDimensionColumnName = "BitsPerDimension", float pixelScale = 1f,
        ChannelLayout channelLayout = ChannelLayout.Planar, int scoringBatchSize = 256)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        return new ProbabilisticCircuitTransformer(mlContext, model, inputColumnName, outputColumnName, bitsPerDimensionColumnName,
            channelLayout, pixelScale, scoringBatchSize);
    }

    /// <summary>The log-likelihood column's name.</summary>
    public string OutputColumnName => outputs.LogLikelihood;

    /// <summary>The bits-per-dimension column's name.</summary>
    public string BitsPerDimensionColumnName => outputs.BitsPerDimension;

    /// <summary>
    /// Compresses every Tucker layer into an uncollapsed CP layer of rank <paramref name="rank"/> (non-negative CP
    /// decomposition of each fold's core) and returns a new transformer with the same columns. The result is not
    /// normalised by construction; its log Z is recomputed. Fine-tune it with
    /// <see cref="ProbabilisticCircuitOptions.InitialModel"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The circuit does not use Tucker layers, or the rank is not positive.</exception>
    public ProbabilisticCircuitTransformer CompressTucker(int rank, TuckerCompressionOptions? options = null)
    {
        var compressed = TuckerCompression.Compress(Model, rank, options);
        return new ProbabilisticCircuitTransformer(Host, compressed, Pixels.Name, OutputColumnName, BitsPerDimensionColumnName,
            Pixels.Layout, Pixels.Scale, ScoringBatchSize);
    }

    static VersionInfo GetVersionInfo() => new(
        modelSignature: "PCIRCUIT",
        verWrittenCur: 0x00010001,
        verReadableCur: 0x00010001,
        verWeCanReadBack: 0x00010001,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(ProbabilisticCircuitTransformer).Assembly.FullName);

    private protected override void SaveModel(ModelSaveContext ctx)
    {
        ctx.CheckAtModel();
        ctx.SetVersionInfo(GetVersionInfo());
        ctx.SaveNonEmptyString(OutputColumnName);
        ctx.SaveNonEmptyString(BitsPerDimensionColumnName);
        SaveCommon(ctx);
    }

    // Called by ML.NET's model loader (SignatureLoadModel). Load binds ML.NET internals: the contract check runs first.
    static ProbabilisticCircuitTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        MLNetContract.EnsureSatisfied();
        return Load(env, ctx);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static ProbabilisticCircuitTransformer Load(IHostEnvironment env, ModelLoadContext ctx)
    {
        ctx.CheckAtModel(GetVersionInfo());
        string output = ctx.LoadNonEmptyString();
        string bpd = ctx.LoadNonEmptyString();
        var (column, layout, scale, batch, model) = LoadCommon(ctx);
        return new ProbabilisticCircuitTransformer(env, model, column, output, bpd, layout, scale, batch);
    }

    sealed class DensityColumns(ProbabilisticCircuitTransformer owner, string logLikelihood, string bitsPerDimension) : ScoreColumns
    {
        public string LogLikelihood { get; } = logLikelihood;
        public string BitsPerDimension { get; } = bitsPerDimension;

        public override IReadOnlyList<(string Name, DataViewType Type)> Columns { get; } =
            [(logLikelihood, NumberDataViewType.Single), (bitsPerDimension, NumberDataViewType.Single)];

        public override Delegate MakeGetter(int index, Func<double> ll) => index switch
        {
            0 => (ValueGetter<float>)((ref float value) => value = (float)ll()),
            1 => (ValueGetter<float>)((ref float value) => value = (float)owner.BitsPerDimension(ll())),
            _ => throw new ArgumentOutOfRangeException(nameof(index)),
        };
    }
}
