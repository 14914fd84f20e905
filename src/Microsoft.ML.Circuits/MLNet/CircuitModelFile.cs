using Microsoft.ML.Data;

namespace Microsoft.ML.Circuits;

/// <summary>
/// Model files of the command line: standard ML.NET model zips holding one circuit transformer, written atomically.
/// A zip written here loads with <c>mlContext.Model.Load</c> in any ML.NET program, and a zip saved by such a program
/// loads here. The raw circuit payload (<see cref="CircuitModel.Save(Stream)"/>) is accepted too.
/// </summary>
public static class CircuitModelFile
{
    /// <summary>The extension of model files.</summary>
    public const string Extension = ".zip";

    /// <summary>The schema the saved transformer expects: a <c>Pixels</c> column of type Vector&lt;Single, C, H, W&gt;.</summary>
    public static DataViewSchema InputSchema(CircuitDescription description, string inputColumnName = "Pixels")
    {
        ArgumentNullException.ThrowIfNull(description);
        var builder = new DataViewSchema.Builder();
        builder.AddColumn(inputColumnName, new VectorDataViewType(NumberDataViewType.Single, description.Channels, description.ImageHeight, description.ImageWidth));
        return builder.ToSchema();
    }

    /// <summary>Saves <paramref name="transformer"/> as an ML.NET model zip, atomically.</summary>
    /// <param name="mlContext">The context whose model operations write the zip.</param>
    /// <param name="transformer">What to save.</param>
    /// <param name="path">The destination; its folder is created.</param>
    /// <param name="overwrite">When false, an existing file is never replaced.</param>
    public static void Save(MLContext mlContext, CircuitTransformerBase transformer, string path, bool overwrite = true)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(transformer);
        var schema = InputSchema(transformer.Description, transformer.InputColumnName);
        AtomicFile.Write(path, stream => mlContext.Model.Save(transformer, schema, stream), overwrite);
    }

    /// <summary>
    /// Loads a model zip (or a raw circuit payload) and returns its circuit transformer. For a zip holding a chain,
    /// the last circuit transformer of the chain is returned.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is neither a model zip with a circuit nor a circuit payload, or it is corrupt.</exception>
    /// <exception cref="ArgumentException"><paramref name="path"/> is a folder.</exception>
    public static CircuitTransformerBase Load(MLContext mlContext, string path)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        if (Directory.Exists(path)) throw new ArgumentException($"{path} is a folder; expected a model file ({Extension}).", nameof(path));
        if (!File.Exists(path)) throw new FileNotFoundException($"Model file not found: {path}", path);
        var head = new byte[2];
        using (var probe = File.OpenRead(path)) probe.ReadExactly(head, 0, Math.Min(2, (int)probe.Length));
        if (head[0] != (byte)'P' || head[1] != (byte)'K')
            return ProbabilisticCircuitTransformer.FromModel(mlContext, CircuitModel.LoadFile(path));
        ITransformer loaded;
        try
        {
            loaded = mlContext.Model.Load(path, out _);
        }
        catch (Exception e) when (e is not FileNotFoundException)
        {
            // ML.NET wraps a loader's exception in reflection exceptions: report the innermost reason.
            var reason = e;
            while (reason.InnerException is not null && reason is not InvalidDataException) reason = reason.InnerException;
            throw new InvalidDataException($"{path} is not a readable circuit model zip: {reason.Message}", e);
        }
        return Find(loaded) ?? throw new InvalidDataException($"{path} is an ML.NET model, but it holds no probabilistic circuit.");
    }

    static CircuitTransformerBase? Find(ITransformer transformer) => transformer switch
    {
        CircuitTransformerBase circuit => circuit,
        IEnumerable<ITransformer> chain => chain.Select(Find).LastOrDefault(t => t is not null),
        _ => null,
    };
}
