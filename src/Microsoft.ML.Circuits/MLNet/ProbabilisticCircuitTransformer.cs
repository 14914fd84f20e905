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
/// <see cref="float"/>) and the bits per dimension of each row's image. With <see cref="AllowMissingPixels"/>, NaN in a
/// Single pixel column marks a missing pixel (ML.NET's convention for missing values) and the columns hold the exact
/// marginal log-likelihood of the observed pixels and its bits per observed dimension. Created by
/// <see cref="ProbabilisticCircuitEstimator.Fit"/>; saved and loaded with <c>mlContext.Model.Save</c> /
/// <c>Load</c> (no registration call is needed to load).
/// </summary>
public sealed class ProbabilisticCircuitTransformer : CircuitTransformerBase
{
    internal const string LoaderSignature = "ProbCircuitTransform";

    readonly DensityColumns outputs;

    internal ProbabilisticCircuitTransformer(IHostEnvironment env, CircuitModel model, string inputColumnName, string outputColumnName,
        string bitsPerDimensionColumnName, ChannelLayout layout, float pixelScale, int scoringBatchSize, bool allowMissingPixels = false)
        : base(env, nameof(ProbabilisticCircuitTransformer), model, inputColumnName, layout, pixelScale, scoringBatchSize, allowMissingPixels)
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
    /// <param name="allowMissingPixels">Read NaN as a missing pixel and emit marginal log-likelihoods (see <see cref="AllowMissingPixels"/>).</param>
    public static ProbabilisticCircuitTransformer FromModel(MLContext mlContext, CircuitModel model, string inputColumnName = "Pixels",
        string outputColumnName = "LogLikelihood", string bitsPerDimensionColumnName = "BitsPerDimension", float pixelScale = 1f,
        ChannelLayout channelLayout = ChannelLayout.Planar, int scoringBatchSize = 256, bool allowMissingPixels = false)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        return new ProbabilisticCircuitTransformer(mlContext, model, inputColumnName, outputColumnName, bitsPerDimensionColumnName,
            channelLayout, pixelScale, scoringBatchSize, allowMissingPixels);
    }

    /// <summary>
    /// True when NaN in a Single pixel column means "missing" (every channel of the pixel must be NaN): the
    /// log-likelihood column then holds log p(x_observed), the exact marginal with the missing pixels summed out, and
    /// the bits-per-dimension column divides by the observed values only (NaN when nothing is observed). False (the
    /// default): NaN is rejected with an error naming the row.
    /// </summary>
    public bool AllowMissingPixels => Pixels.AllowMissing;

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
            Pixels.Layout, Pixels.Scale, ScoringBatchSize, AllowMissingPixels);
    }

    /// <summary>The first version that stores <see cref="AllowMissingPixels"/> (after the shared part).</summary>
    const uint VersionWithMissingPixels = 0x00010002;

    static VersionInfo GetVersionInfo() => new(
        modelSignature: "PCIRCUIT",
        verWrittenCur: VersionWithMissingPixels,
        verReadableCur: VersionWithMissingPixels,
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
        ctx.Writer.Write(AllowMissingPixels);
    }

    // Called by ML.NET's model loader (SignatureLoadModel). Load binds ML.NET internals: the contract check runs first;
    // whatever then fails while reading the transformer's folder reaches the caller as our InvalidDataException.
    static ProbabilisticCircuitTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        MLNetContract.EnsureSatisfied();
        return Loading(() => Load(env, ctx));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static ProbabilisticCircuitTransformer Load(IHostEnvironment env, ModelLoadContext ctx)
    {
        ctx.CheckAtModel(GetVersionInfo());
        string output = ctx.LoadNonEmptyString();
        string bpd = ctx.LoadNonEmptyString();
        var (column, layout, scale, batch, model) = LoadCommon(ctx);
        bool allowMissing = ctx.Header.ModelVerWritten >= VersionWithMissingPixels && ctx.Reader.ReadBoolean();
        return new ProbabilisticCircuitTransformer(env, model, column, output, bpd, layout, scale, batch, allowMissing);
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

        /// <summary>With missing pixels, bits per dimension count the observed values only.</summary>
        public override Delegate MakeGetter(int index, ScoredBatch batch, Func<int> row)
        {
            if (index != 1 || batch.Missing is null) return base.MakeGetter(index, batch, row);
            int channels = owner.Description.Channels;
            return (ValueGetter<float>)((ref float value) =>
            {
                int r = row();
                int observed = batch.Variables - batch.Missing.AsSpan(r * batch.Variables, batch.Variables).Count(true);
                // Nothing observed: no dimension to divide by (log p = log 1 = 0 up to rounding, so 0 / 0 would depend on it).
                value = observed == 0 ? float.NaN : (float)Training.Evaluation.BitsPerDimension(batch.Scores[r], observed * channels);
            });
        }
    }
}
