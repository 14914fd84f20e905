using Microsoft.ML.Circuits.Data;

namespace Microsoft.ML.Circuits;

/// <summary>
/// The learned coder of <see cref="AnomalyScore.LocalComplexity"/>: a model of the training images' local statistics
/// that knows nothing of where things are. Each value (each channel its own tables) is coded with the mixture
/// p(v | a, b, c) = ½ q(v | a, b, c) + ½ h(v) of a context model q — the value given its left, upper and upper-left
/// neighbours in the same channel (0 outside the image), each quantised to <see cref="ContextLevels"/> levels — and a
/// histogram h of the values, both with add-½ smoothing and the same at every position. log p_local(x) = Σ log p(x_i | …)
/// is a proper log-likelihood: −log₂ p_local(x) is the length of a lossless code for x fitted to the training data. It
/// captures texture, smoothness and ink density (what makes an image simple or complex) but not layout, so the circuit's
/// likelihood measured against it keeps the global structure only the circuit models. Fitting is counting: exact and
/// deterministic.
/// </summary>
public sealed class LocalPixelModel : BackgroundModel
{
    /// <summary>Levels each neighbour's value is quantised to in the context (8: 512 contexts per channel).</summary>
    public const int ContextLevels = 8;

    const int Contexts = ContextLevels * ContextLevels * ContextLevels;
    const int FormatVersion = 1;

    // Per channel c, context k and value v, at (c·Contexts + k)·Categories + v: log(½ q(v | k) + ½ h(v)).
    readonly float[] logProbabilities;

    LocalPixelModel(int height, int width, int channels, int categories, float[] logProbabilities)
        : base(height, width, channels, categories) => this.logProbabilities = logProbabilities;

    /// <summary>Fits the model to <paramref name="images"/>.</summary>
    /// <param name="images">The training images (at least one).</param>
    /// <param name="categories">Values per pixel channel: every pixel must be below it (2..256).</param>
    public static LocalPixelModel Fit(ImageDataset images, int categories = 256)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Count == 0) throw new ArgumentException("The background model needs at least one training image.", nameof(images));
        if (categories is < 2 or > 256)
            throw new ArgumentOutOfRangeException(nameof(categories), categories, "Categories must lie in 2..256.");
        int channels = images.Channels, size = images.ImageSize;
        var model = new LocalPixelModel(images.Height, images.Width, channels, categories, new float[channels * Contexts * categories]);
        var contextCounts = new long[channels * Contexts * categories];
        var valueCounts = new long[channels * categories];
        for (int i = 0; i < images.Count; i++)
        {
            var image = images.Image(i);
            for (int d = 0; d < size; d++)
            {
                if (image[d] >= categories)
                    throw new ArgumentException($"{images.Name} image {i}, value {d}: {image[d]} is outside 0..{categories - 1}.", nameof(images));
                int channel = d % channels;
                contextCounts[(channel * Contexts + model.Context(image, d)) * categories + image[d]]++;
                valueCounts[channel * categories + image[d]]++;
            }
        }
        double half = categories / 2.0;
        for (int channel = 0; channel < channels; channel++)
        {
            var values = valueCounts.AsSpan(channel * categories, categories);
            long total = 0;
            foreach (long n in values) total += n;
            for (int k = 0; k < Contexts; k++)
            {
                int row = (channel * Contexts + k) * categories;
                var counts = contextCounts.AsSpan(row, categories);
                long inContext = 0;
                foreach (long n in counts) inContext += n;
                for (int v = 0; v < categories; v++)
                {
                    double q = (counts[v] + 0.5) / (inContext + half), h = (values[v] + 0.5) / (total + half);
                    model.logProbabilities[row + v] = (float)Math.Log(0.5 * q + 0.5 * h);
                }
            }
        }
        return model;
    }

    /// <summary>The context of value <paramref name="d"/> (pixel-major index): its quantised left, upper and upper-left neighbours.</summary>
    int Context(ReadOnlySpan<byte> image, int d)
    {
        int channels = Channels, pixel = d / channels, y = pixel / Width, x = pixel % Width;
        int left = x > 0 ? image[d - channels] : 0;
        int up = y > 0 ? image[d - Width * channels] : 0;
        int upLeft = x > 0 && y > 0 ? image[d - (Width + 1) * channels] : 0;
        return (Level(left) * ContextLevels + Level(up)) * ContextLevels + Level(upLeft);
    }

    int Level(int value) => value * ContextLevels / Categories;

    /// <inheritdoc />
    public override double LogLikelihood(ReadOnlySpan<byte> image)
    {
        CheckImage(image);
        double total = 0;
        for (int d = 0; d < image.Length; d++)
            total += logProbabilities[(d % Channels * Contexts + Context(image, d)) * Categories + image[d]];
        return total;
    }

    /// <summary>−log₂ p_local(x) / D: the length of this model's code for <paramref name="image"/>, in bits per dimension.</summary>
    public double BitsPerDimension(ReadOnlySpan<byte> image) => -LogLikelihood(image) / (Math.Log(2) * image.Length);

    internal override void Save(BinaryWriter writer)
    {
        WriteHeader(writer, FormatVersion);
        writer.Write(ContextLevels);
        WriteTable(writer, logProbabilities);
    }

    internal static LocalPixelModel Load(BinaryReader reader, string source)
    {
        var (height, width, channels, categories) = ReadHeader(reader, FormatVersion, source, "local pixel model");
        int levels = reader.ReadInt32();
        if (levels != ContextLevels)
            throw new InvalidDataException($"{source}: the local pixel model has {levels} context levels; this library reads {ContextLevels}.");
        var log = ReadTable(reader, channels * Contexts * categories, source, "local pixel model");
        return new LocalPixelModel(height, width, channels, categories, log);
    }
}
