namespace Microsoft.ML.Circuits;

/// <summary>
/// A simple model of the training images that an anomaly score measures the circuit against: the circuit's
/// log-likelihood minus the background's is what the circuit knows beyond what the background captures.
/// <see cref="PixelBackgroundModel"/> is the background of <see cref="AnomalyScore.LikelihoodRatio"/>,
/// <see cref="LocalPixelModel"/> the learned code of <see cref="AnomalyScore.LocalComplexity"/>.
/// </summary>
public abstract class BackgroundModel
{
    private protected BackgroundModel(int height, int width, int channels, int categories)
    {
        Height = height; Width = width; Channels = channels; Categories = categories;
    }

    /// <summary>Image height.</summary>
    public int Height { get; }

    /// <summary>Image width.</summary>
    public int Width { get; }

    /// <summary>Channels per pixel.</summary>
    public int Channels { get; }

    /// <summary>Values per pixel channel (256 for bytes).</summary>
    public int Categories { get; }

    /// <summary>The natural-log background score of one image (H·W·C bytes, pixel-major as <see cref="Data.ImageDataset"/> holds them).</summary>
    public abstract double LogLikelihood(ReadOnlySpan<byte> image);

    /// <summary>Throws unless <paramref name="image"/> has this model's size and every value is below <see cref="Categories"/>.</summary>
    private protected void CheckImage(ReadOnlySpan<byte> image)
    {
        int size = Height * Width * Channels;
        if (image.Length != size)
            throw new ArgumentException($"The image has {image.Length} values; the background model is for {Height}×{Width}×{Channels} = {size}.", nameof(image));
        for (int d = 0; d < size; d++)
            if (image[d] >= Categories)
                throw new ArgumentException($"Value {d} of the image is {image[d]}, outside 0..{Categories - 1}.", nameof(image));
    }

    internal abstract void Save(BinaryWriter writer);

    /// <summary>Writes the header every background model's stream starts with: format, height, width, channels, categories.</summary>
    private protected void WriteHeader(BinaryWriter writer, int formatVersion)
    {
        writer.Write(formatVersion);
        writer.Write(Height); writer.Write(Width); writer.Write(Channels); writer.Write(Categories);
    }

    /// <summary>Writes a table of log-probabilities after the header.</summary>
    private protected static void WriteTable(BinaryWriter writer, float[] logProbabilities)
    {
        foreach (float value in logProbabilities) writer.Write(value);
    }

    /// <summary>
    /// Reads <paramref name="length"/> log-probabilities written by <see cref="WriteTable"/>; each must be a finite value
    /// ≤ 0 (a corrupt stream is an error, not a model that scores garbage).
    /// </summary>
    private protected static float[] ReadTable(BinaryReader reader, int length, string source, string what)
    {
        var table = new float[length];
        for (int j = 0; j < table.Length; j++)
        {
            table[j] = reader.ReadSingle();
            if (!(table[j] <= 0) || float.IsInfinity(table[j]))
                throw new InvalidDataException($"{source}: the {what} holds an invalid log-probability ({table[j]}) at entry {j}.");
        }
        return table;
    }

    /// <summary>
    /// Reads and checks <see cref="WriteHeader"/>'s header: the format must be <paramref name="formatVersion"/> and the
    /// shape plausible (at most 2^28 values per image, 64 channels, 2..256 categories).
    /// </summary>
    private protected static (int Height, int Width, int Channels, int Categories) ReadHeader(BinaryReader reader, int formatVersion, string source, string what)
    {
        int version = reader.ReadInt32();
        if (version != formatVersion)
            throw new InvalidDataException($"{source}: {what} format {version} is not supported (this library reads format {formatVersion}).");
        int height = reader.ReadInt32(), width = reader.ReadInt32(), channels = reader.ReadInt32(), categories = reader.ReadInt32();
        if (height < 1 || width < 1 || channels is < 1 or > 64 || categories is < 2 or > 256 || (long)height * width * channels > 1 << 28)
            throw new InvalidDataException($"{source}: the {what} header is corrupt ({height}×{width}×{channels}, {categories} categories).");
        return (height, width, channels, categories);
    }
}
