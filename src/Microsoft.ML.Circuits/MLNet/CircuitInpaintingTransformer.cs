using System.Runtime.CompilerServices;
using Microsoft.ML;
using Microsoft.ML.Circuits;
using Microsoft.ML.Circuits.Queries;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

[assembly: LoadableClass(typeof(CircuitInpaintingTransformer), null, typeof(SignatureLoadModel),
    "Probabilistic Circuit Inpainting Transformer", CircuitInpaintingTransformer.LoaderSignature)]

namespace Microsoft.ML.Circuits;

/// <summary>
/// Fills the missing pixels of images with a trained circuit: NaN in a Single pixel column marks a missing pixel (every
/// channel of it), and the output column — a Single vector of the input column's shape, layout and scale — holds the
/// image with those pixels completed, by MAP (max-product) or by a seeded draw from the exact conditional; observed
/// pixels are copied. Rows without NaN come out unchanged. Create it with
/// <c>mlContext.Transforms.InpaintWithCircuit(...)</c> from a fitted or loaded circuit transformer, or with
/// <see cref="FromModel"/>; saved and loaded with <c>mlContext.Model.Save</c> / <c>Load</c> like the others.
/// </summary>
/// <remarks>
/// Conditional samples are drawn a batch of <c>ScoringBatchSize</c> rows at a time, seeded from <see cref="Seed"/> and
/// the batch's first row: the same seed, batch size and row order give the same completions (a prediction engine,
/// which sees one row at a time, draws differently from <c>Transform</c>).
/// </remarks>
public sealed class CircuitInpaintingTransformer : CircuitTransformerBase
{
    internal const string LoaderSignature = "PCInpaintTransform";

    readonly InpaintedColumn output;

    internal CircuitInpaintingTransformer(IHostEnvironment env, CircuitModel model, string inputColumnName, string outputColumnName,
        ChannelLayout layout, float pixelScale, int scoringBatchSize, InpaintingMethod method, int seed)
        : base(env, nameof(CircuitInpaintingTransformer), model, inputColumnName, layout, pixelScale, scoringBatchSize, allowMissingPixels: true)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(outputColumnName);
        if (!Enum.IsDefined(method))
            throw new ArgumentOutOfRangeException(nameof(method), method, $"Unknown inpainting method; use {string.Join(" or ", Enum.GetNames<InpaintingMethod>())}.");
        Method = method;
        Seed = seed;
        output = new InpaintedColumn(outputColumnName, PixelVectorType(), Pixels.Name);
    }

    /// <summary>
    /// Wraps a circuit model (trained elsewhere, or loaded from a payload file) as an inpainting transformer; the
    /// transformer owns <paramref name="model"/> from now on.
    /// </summary>
    /// <param name="mlContext">The ML.NET context.</param>
    /// <param name="model">The circuit and its weights.</param>
    /// <param name="inputColumnName">The pixel column to read (NaN = missing).</param>
    /// <param name="outputColumnName">The completed-image column to add.</param>
    /// <param name="method">MAP (default) or a conditional sample.</param>
    /// <param name="seed">Seed of conditional samples.</param>
    /// <param name="pixelScale">1 for 0..255 values, 255 for 0..1 values.</param>
    /// <param name="channelLayout">Layout of multi-channel vectors.</param>
    /// <param name="scoringBatchSize">Rows completed per circuit call.</param>
    public static CircuitInpaintingTransformer FromModel(MLContext mlContext, CircuitModel model, string inputColumnName = "Pixels",
        string outputColumnName = "Inpainted", InpaintingMethod method = InpaintingMethod.Map, int seed = 0, float pixelScale = 1f,
        ChannelLayout channelLayout = ChannelLayout.Planar, int scoringBatchSize = 256)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        return new CircuitInpaintingTransformer(mlContext, model, inputColumnName, outputColumnName, channelLayout, pixelScale, scoringBatchSize, method, seed);
    }

    /// <summary>MAP or conditional sample.</summary>
    public InpaintingMethod Method { get; }

    /// <summary>Seed of conditional samples (unused by MAP).</summary>
    public int Seed { get; }

    /// <summary>The completed-image column's name.</summary>
    public string OutputColumnName => output.Name;

    internal override ScoreColumns Outputs => output;

    internal override ScoredBatch CreateBatch(int capacity) => new(capacity, Pixels, Pixels.Size);

    /// <summary>Completes the batch's images and writes them, in the column's format, into the batch's vectors.</summary>
    internal override void Score(ScoredBatch batch, int count)
    {
        using var _ = torch.no_grad();
        using var scope = NewDisposeScope();
        var x = PixelTensor(batch, count);
        var missing = MissingTensor(batch, count)!;
        var completed = Method == InpaintingMethod.Map
            ? new MaxProductQuery(Circuit).Complete(x, missing)
            : new SamplingQuery(Circuit).SampleConditional(x, missing, BatchSeed(batch.FirstRow));
        var bytes = completed.to(ScalarType.Byte).cpu().data<byte>().ToArray();
        int size = Pixels.Size;
        for (int i = 0; i < count; i++)
            Pixels.WriteValues(bytes.AsSpan(i * size, size), batch.Vectors.AsSpan(i * size, size));
    }

    long BatchSeed(long firstRow) => unchecked((long)((ulong)(uint)Seed * 0x9E3779B97F4A7C15UL ^ (ulong)firstRow * 0xC2B2AE3D27D4EB4FUL));

    static VersionInfo GetVersionInfo() => new(
        modelSignature: "PCINPANT",
        verWrittenCur: 0x00010001,
        verReadableCur: 0x00010001,
        verWeCanReadBack: 0x00010001,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(CircuitInpaintingTransformer).Assembly.FullName);

    /// <summary>Refused: the exported graph is the circuit's upward pass (log-likelihoods), not this transformer's inpainting.</summary>
    private protected override void AddOnnxOutputs(Microsoft.ML.Circuits.Onnx.OnnxCircuitGraph graph, Dictionary<string, string> metadata) =>
        throw new NotSupportedException(
            "The ONNX exporter writes a circuit's log-likelihood (its upward pass); inpainting is a top-down pass (MAP choices or sampling) " +
            "that it does not write. Export the density transformer the inpainting transformer was made from.");

    private protected override void SaveModel(ModelSaveContext ctx)
    {
        ctx.CheckAtModel();
        ctx.SetVersionInfo(GetVersionInfo());
        ctx.SaveNonEmptyString(OutputColumnName);
        ctx.Writer.Write((int)Method);
        ctx.Writer.Write(Seed);
        SaveCommon(ctx);
    }

    // Called by ML.NET's model loader (SignatureLoadModel). Load binds ML.NET internals: the contract check runs first;
    // whatever then fails while reading the transformer's folder reaches the caller as our InvalidDataException.
    static CircuitInpaintingTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        MLNetContract.EnsureSatisfied();
        return Loading(() => Load(env, ctx));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static CircuitInpaintingTransformer Load(IHostEnvironment env, ModelLoadContext ctx)
    {
        ctx.CheckAtModel(GetVersionInfo());
        string output = ctx.LoadNonEmptyString();
        var method = (InpaintingMethod)ctx.Reader.ReadInt32();
        if (!Enum.IsDefined(method)) throw new InvalidDataException($"The model zip is corrupt: unknown inpainting method {(int)method}.");
        int seed = ctx.Reader.ReadInt32();
        var (column, layout, scale, batch, model) = LoadCommon(ctx);
        return new CircuitInpaintingTransformer(env, model, column, output, layout, scale, batch, method, seed);
    }

    sealed class InpaintedColumn(string name, VectorDataViewType type, string inputColumnName) : ScoreColumns
    {
        public string Name { get; } = name;

        public override IReadOnlyList<(string Name, DataViewType Type)> Columns { get; } = [(name, type)];

        /// <summary>The input column's own type when it is a Single vector (its dimensions kept), else a Single vector of the image's shape.</summary>
        public override IReadOnlyList<(string Name, DataViewType Type)> ColumnsFor(DataViewSchema inputSchema) =>
            inputSchema.GetColumnOrNull(inputColumnName)?.Type is VectorDataViewType { ItemType: NumberDataViewType itemType } input && itemType == NumberDataViewType.Single
                ? [(Name, input)]
                : Columns;

        public override Delegate MakeGetter(int index, Func<double> score) =>
            throw new InvalidOperationException("The inpainted column is a vector per row, not a score.");

        public override Delegate MakeGetter(int index, ScoredBatch batch, Func<int> row)
        {
            if (index != 0) throw new ArgumentOutOfRangeException(nameof(index));
            int size = batch.VectorSize;
            return (ValueGetter<VBuffer<float>>)((ref VBuffer<float> value) =>
            {
                var editor = VBufferEditor.Create(ref value, size);
                batch.Vectors.AsSpan(row() * size, size).CopyTo(editor.Values);
                value = editor.Commit();
            });
        }
    }
}
