using Microsoft.ML.Circuits.Onnx;
using Microsoft.ML.Circuits.Structure;
using Microsoft.ML.Circuits.Training;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits;

/// <summary>
/// What the density and anomaly transformers share: a trained circuit, the pixel column it reads, batched scoring,
/// and persistence into ML.NET model zips (the circuit payload — the same bytes the command line writes — is one
/// binary stream of the transformer's folder in the zip).
/// </summary>
public abstract class CircuitTransformerBase : ITransformer, IDisposable
{
    readonly Lazy<CircuitScorer> scorer;

    private protected CircuitTransformerBase(IHostEnvironment env, string name, CircuitModel model, string inputColumnName,
        ChannelLayout layout, float pixelScale, int scoringBatchSize, bool allowMissingPixels = false)
    {
        ArgumentNullException.ThrowIfNull(env);
        Host = env.Register(name);
        Model = model ?? throw new ArgumentNullException(nameof(model));
        scorer = new Lazy<CircuitScorer>(() => new CircuitScorer(Model));
        if (scoringBatchSize < 1)
            throw new ArgumentOutOfRangeException(nameof(scoringBatchSize), scoringBatchSize, "ScoringBatchSize must be at least 1.");
        var d = model.Description;
        Pixels = PixelColumn.Resolve(inputColumnName, new VectorDataViewType(NumberDataViewType.Single, d.ImageHeight * d.ImageWidth * d.Channels),
            d.ImageHeight, d.ImageWidth, d.Channels, layout, pixelScale, d.Categories).WithMissing(allowMissingPixels);
        ScoringBatchSize = scoringBatchSize;
    }

    private protected IHost Host { get; }

    /// <summary>The circuit, its weights and its metadata (owned by the transformer).</summary>
    public CircuitModel Model { get; }

    internal PixelColumn Pixels { get; }

    internal int ScoringBatchSize { get; }

    internal abstract ScoreColumns Outputs { get; }

    /// <summary>The description of the circuit (region graph, layers, K, image shape).</summary>
    public CircuitDescription Description => Model.Description;

    /// <summary>Parameter counts of the circuit (the paper's count and the trainable count).</summary>
    public ParameterCount ParameterCount => Model.Circuit.ParameterCount;

    /// <summary>The training run that produced the weights (null if none is recorded).</summary>
    public TrainingSummary? TrainingReport => Model.Metadata.Training;

    /// <summary>How the weights were derived by compression (null unless compressed).</summary>
    public CompressionReport? CompressionReport => Model.Metadata.Compression;

    /// <summary>The name of the pixel column.</summary>
    public string InputColumnName => Pixels.Name;

    /// <summary>
    /// The circuit itself, for direct use with TorchSharp tensors (owned by the transformer). The transformer treats
    /// its weights as fixed once it has scored: do not change them.
    /// </summary>
    public TensorizedCircuit Circuit => Model.Circuit;

    /// <summary>Always true: the transformer maps rows one to one.</summary>
    public bool IsRowToRowMapper => true;

    /// <inheritdoc />
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        Pixels.CheckSchema(inputSchema);
        return MakeOutputSchema(inputSchema);
    }

    /// <inheritdoc />
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        return new CircuitRowMapper(inputSchema, this);
    }

    /// <summary>Adds the score columns; scores are computed in batches of <see cref="ScoringBatchSize"/> rows as a cursor moves.</summary>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new CircuitScoredDataView(input, this);
    }

    internal DataViewSchema MakeOutputSchema(DataViewSchema inputSchema)
    {
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(inputSchema);
        foreach (var (name, type) in Outputs.ColumnsFor(inputSchema)) builder.AddColumn(name, type);
        return builder.ToSchema();
    }

    /// <summary>The buffers of a batch of <paramref name="capacity"/> rows for this transformer's cursors.</summary>
    internal virtual ScoredBatch CreateBatch(int capacity) => new(capacity, Pixels, 0);

    /// <summary>
    /// Scores rows for the cursors: warns once (through <c>MLContext.Log</c>) when the pixels look binarised — only 0 and 1
    /// with <c>PixelScale</c> 1, which the circuit reads as the two darkest of its levels — then calls <see cref="Score"/>.
    /// </summary>
    internal void ScoreRows(ScoredBatch batch, int count)
    {
        if (!warnedBinarised && Pixels.Scale == 1f && LooksBinarised(batch.Pixels.AsSpan(0, count * Pixels.Size)))
        {
            warnedBinarised = true;
            using var channel = Host.Start("Scoring");
            channel.Warning($"Column '{Pixels.Name}': the rows hold only the values 0 and 1, which PixelScale 1 reads as the two darkest of " +
                $"{Description.Categories} levels. If the pixels are binarised or scaled to 0..1, set PixelScale = 255; if they are really that dark, ignore this.");
        }
        Score(batch, count);
    }

    volatile bool warnedBinarised;

    internal static bool LooksBinarised(ReadOnlySpan<byte> pixels)
    {
        bool one = false;
        foreach (byte b in pixels)
        {
            if (b > 1) return false;
            one |= b == 1;
        }
        return one;
    }

    /// <summary>
    /// Normalised log-likelihoods of the first <paramref name="count"/> images of <paramref name="batch"/> into its
    /// scores — marginal log-likelihoods of the observed pixels where the batch has missing pixels. A derived
    /// transformer may turn them into its own per-row value (the anomaly detector's score), which is what its
    /// <see cref="ScoreColumns"/> getters then receive.
    /// </summary>
    internal virtual void Score(ScoredBatch batch, int count)
    {
        using var scope = NewDisposeScope();
        var x = PixelTensor(batch, count);
        var missing = MissingTensor(batch, count);
        var result = scorer.Value.MarginalLogLikelihoods(x, missing);
        result.CopyTo(batch.Scores, 0);
    }

    /// <summary>The batch's first <paramref name="count"/> images as an int64 (B, D, C) tensor on the circuit's device.</summary>
    private protected Tensor PixelTensor(ScoredBatch batch, int count)
    {
        var d = Description;
        using var bytes = torch.tensor(batch.Pixels.AsSpan(0, count * Pixels.Size).ToArray(), [count, d.Variables, d.Channels]);
        return bytes.to(ScalarType.Int64, Model.Circuit.Device);
    }

    /// <summary>The batch's missing flags (B, D) on the circuit's device, or null when the column allows none.</summary>
    private protected Tensor? MissingTensor(ScoredBatch batch, int count)
    {
        if (batch.Missing is null) return null;
        using var flags = torch.tensor(batch.Missing.AsSpan(0, count * batch.Variables).ToArray(), [count, batch.Variables]);
        return flags.to(Model.Circuit.Device);
    }

    /// <summary>
    /// Draws <paramref name="count"/> images from the circuit's distribution (exact sampling, see
    /// <see cref="Queries.SamplingQuery"/>), as pixel vectors in this transformer's column format: the column's layout
    /// and scale (values / PixelScale), <c>H·W·C</c> values each. The same seed gives the same images.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is not positive.</exception>
    public float[][] Sample(int count, int seed = 0)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "The number of samples must be at least 1.");
        using var scope = NewDisposeScope();
        var samples = new Queries.SamplingQuery(Model.Circuit) { BatchSize = ScoringBatchSize }.Sample(count, seed);
        var bytes = samples.to(ScalarType.Byte).cpu().data<byte>().ToArray();
        var result = new float[count][];
        for (int i = 0; i < count; i++)
        {
            result[i] = new float[Pixels.Size];
            Pixels.WriteValues(bytes.AsSpan(i * Pixels.Size, Pixels.Size), result[i]);
        }
        return result;
    }

    /// <summary>
    /// <see cref="Sample"/> as a data view with one column named like this transformer's input column, of the same
    /// vector type (Single, with the image's dimensions), so it can be fed to this or another transformer.
    /// </summary>
    public IDataView SampleDataView(int count, int seed = 0)
    {
        var images = Sample(count, seed);
        var schema = SchemaDefinition.Create(typeof(SampleRow));
        schema[0].ColumnName = Pixels.Name;
        schema[0].ColumnType = PixelVectorType();
        return DataViewConstructionUtils.CreateFromList(Host, images.Select(v => new SampleRow { Pixels = v }).ToList(), schema);
    }

    /// <summary>A Single vector of one image in the column's layout: (H, W), (C, H, W) planar or (H, W, C) interleaved.</summary>
    internal VectorDataViewType PixelVectorType()
    {
        var d = Description;
        int[] dims = d.Channels == 1 ? [d.ImageHeight, d.ImageWidth]
            : Pixels.Layout == ChannelLayout.Planar ? [d.Channels, d.ImageHeight, d.ImageWidth] : [d.ImageHeight, d.ImageWidth, d.Channels];
        return new VectorDataViewType(NumberDataViewType.Single, dims);
    }

    sealed class SampleRow
    {
        public float[] Pixels { get; set; } = [];
    }

    /// <summary>Bits per dimension of a log-likelihood: −LL / (ln 2 · H·W·C).</summary>
    internal double BitsPerDimension(double logLikelihood) => Evaluation.BitsPerDimension(logLikelihood, Description.Dimensions);

    /// <summary>
    /// Writes the transformer as an ONNX model (opset 17, standard operators) that scores the same pixel vectors this
    /// transformer reads: input <c>pixels</c>, float (or uint8 with <paramref name="pixelType"/>) <c>[N, C·H·W]</c> in the
    /// transformer's channel layout, float values multiplied by its pixel scale, rounded and clipped to the categories
    /// (NaN as a missing pixel, summed out, when the transformer allows missing pixels);
    /// outputs <c>log_likelihood</c> and <c>bits_per_dimension</c> (and, for the anomaly detector, <c>score</c> and
    /// <c>predicted_label</c>), N dynamic. Load it with ONNX Runtime, or in ML.NET with <c>ApplyOnnxModel</c>.
    /// </summary>
    /// <param name="stream">Where the model is written.</param>
    /// <param name="pixelType">The element type of <c>pixels</c>.</param>
    /// <exception cref="NotSupportedException">An anomaly score that standard ONNX operators cannot compute (input complexity).</exception>
    public void ExportToOnnx(Stream stream, OnnxPixelType pixelType = OnnxPixelType.Float)
    {
        ArgumentNullException.ThrowIfNull(stream);
        WriteOnnx(stream, OnnxOptions(pixelType));
    }

    /// <summary>Writes the transformer as an ONNX model file, atomically (see <see cref="ExportToOnnx(Stream, OnnxPixelType)"/>).</summary>
    /// <param name="path">The file to write (<c>.onnx</c>); replaced if it exists.</param>
    /// <param name="pixelType">The element type of <c>pixels</c>.</param>
    /// <exception cref="NotSupportedException">An anomaly score that standard ONNX operators cannot compute (input complexity).</exception>
    public void ExportToOnnx(string path, OnnxPixelType pixelType = OnnxPixelType.Float)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        WriteOnnx(path, OnnxOptions(pixelType));
    }

    /// <summary>The export options that read this transformer's pixel vectors: flat, its layout, its scale.</summary>
    internal OnnxExportOptions OnnxOptions(OnnxPixelType pixelType) => new()
    {
        PixelType = pixelType, Shape = OnnxPixelShape.Flat, ChannelsLast = Pixels.Layout == ChannelLayout.Interleaved,
        PixelScale = pixelType == OnnxPixelType.Byte ? 1f : Pixels.Scale,
        MissingPixels = pixelType == OnnxPixelType.Float && Pixels.AllowMissing,
    };

    /// <summary>Writes the model with any pixel input (the command line's <c>export-onnx</c>), with this transformer's outputs.</summary>
    internal void WriteOnnx(Stream stream, OnnxExportOptions options)
    {
        var (graph, metadata) = BuildOnnx(options);
        OnnxCircuitExporter.Write(graph.Graph, Circuit, stream, metadata);
    }

    /// <summary>As <see cref="WriteOnnx(Stream, OnnxExportOptions)"/>, atomically to a file; nothing is written if the export is refused.</summary>
    internal void WriteOnnx(string path, OnnxExportOptions options)
    {
        var (graph, metadata) = BuildOnnx(options);
        AtomicFile.Write(path, stream => OnnxCircuitExporter.Write(graph.Graph, Circuit, stream, metadata));
    }

    (OnnxCircuitGraph Graph, Dictionary<string, string> Metadata) BuildOnnx(OnnxExportOptions options)
    {
        var graph = OnnxCircuitExporter.Build(Circuit, options);
        var metadata = new Dictionary<string, string> { ["input_column"] = Pixels.Name };
        AddOnnxOutputs(graph, metadata);
        return (graph, metadata);
    }

    /// <summary>Adds a derived transformer's outputs to its exported graph (the anomaly detector's score and label).</summary>
    private protected virtual void AddOnnxOutputs(OnnxCircuitGraph graph, Dictionary<string, string> metadata) { }

    void ICanSaveModel.Save(ModelSaveContext ctx)
    {
        // SaveModel binds ML.NET internals: check that they exist before it is compiled.
        MLNetContract.EnsureSatisfied();
        SaveModel(ctx);
    }

    private protected abstract void SaveModel(ModelSaveContext ctx);

    /// <summary>Writes the shared part: column, layout, scale, batch size, then the circuit payload as a binary stream.</summary>
    private protected void SaveCommon(ModelSaveContext ctx)
    {
        ctx.SaveNonEmptyString(Pixels.Name);
        ctx.Writer.Write((int)Pixels.Layout);
        ctx.Writer.Write(Pixels.Scale);
        ctx.Writer.Write(ScoringBatchSize);
        ctx.SaveBinaryStream(CircuitStreamName, writer => Model.Save(writer.BaseStream));
    }

    internal const string CircuitStreamName = "Circuit.bin";

    /// <summary>Reads what <see cref="SaveCommon"/> wrote.</summary>
    private protected static (string Column, ChannelLayout Layout, float Scale, int BatchSize, CircuitModel Model) LoadCommon(ModelLoadContext ctx)
        => Loading(() => LoadCommonUnchecked(ctx));

    /// <summary>
    /// Runs a loader: whatever goes wrong reading the transformer's folder of a model zip (ML.NET's own readers throw
    /// end-of-stream or format errors) surfaces as an <see cref="InvalidDataException"/> that says so, which is what
    /// ML.NET's reflection wrapper then carries as its inner exception.
    /// </summary>
    private protected static T Loading<T>(Func<T> load)
    {
        try
        {
            return load();
        }
        catch (Exception e) when (e is not InvalidDataException and not OutOfMemoryException)
        {
            throw new InvalidDataException($"The model zip's probabilistic circuit cannot be read; the file is corrupt or was not written by this library: {e.Message}", e);
        }
    }

    static (string Column, ChannelLayout Layout, float Scale, int BatchSize, CircuitModel Model) LoadCommonUnchecked(ModelLoadContext ctx)
    {
        string column = ctx.LoadNonEmptyString();
        var layout = (ChannelLayout)ctx.Reader.ReadInt32();
        if (!Enum.IsDefined(layout)) throw new InvalidDataException($"The model zip is corrupt: unknown channel layout {(int)layout}.");
        float scale = ctx.Reader.ReadSingle();
        int batch = ctx.Reader.ReadInt32();
        CircuitModel? model = null;
        if (!ctx.TryLoadBinaryStream(CircuitStreamName, reader => model = CircuitModel.Load(reader.BaseStream, torch.CPU, $"the model zip's {CircuitStreamName}")))
            throw new InvalidDataException($"The model zip has no {CircuitStreamName} stream for its probabilistic circuit.");
        return (column, layout, scale, batch, model!);
    }

    /// <summary>Frees the circuit's tensors.</summary>
    public void Dispose()
    {
        if (scorer.IsValueCreated) scorer.Value.Dispose();
        Model.Dispose();
        GC.SuppressFinalize(this);
    }
}
