using Microsoft.ML.Circuits.Data;

namespace Microsoft.ML.Circuits;

/// <summary>
/// The background of <see cref="AnomalyScore.LocalLikelihoodRatio"/>: a model of the training images' local
/// statistics that knows nothing of where things are. It averages two stationary models (the same tables at every
/// position, each channel its own):
/// <list type="bullet">
/// <item>a context model q(v | a, b, c): each value given its left, upper and upper-left neighbours in the same channel
/// (0 outside the image), each quantised to <see cref="ContextLevels"/> levels;</item>
/// <item>a histogram h(v) of the values.</item>
/// </list>
/// Its score is log p_local(x) = ½ Σ log q(x_i | context_i) + ½ Σ log h(x_i), both with add-½ smoothing. It captures
/// texture, smoothness and ink density (what makes an image simple or complex, as a lossless codec's size does) but not
/// layout, so the circuit's likelihood divided by it measures the global structure only the circuit models: an
/// upside-down garment or a digit under a garment model has ordinary local statistics but an unlikely layout. Fitting
/// is counting: exact and deterministic.
/// </summary>
public sealed class LocalPixelModel : BackgroundModel
{
    /// <summary>Levels each neighbour's value is quantised to in the context (8: 512 contexts per channel).</summary>
    public const int ContextLevels = 8;

    const int Contexts = ContextLevels * ContextLevels * ContextLevels;
    const int FormatVersion = 1;

    // Per channel: Contexts·Categories log q(v | context), then Categories log h(v).
    readonly float[] logProbabilities;

    LocalPixelModel(int height, int width, int channels, int categories, float[] logProbabilities)
        : base(height, width, channels, categories) => this.logProbabilities = logProbabilities;

    int ChannelStride => (Contexts + 1) * Categories;

    /// <summary>Fits the model to <paramref name="images"/>.</summary>
    /// <param name="images">The training images (at least one).</param>
    /// <param name="categories">Values per pixel channel: every pixel must be below it (2..256).</param>
    public static LocalPixelModel Fit(ImageDataset images, int categories = 256)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Count == 0) throw new ArgumentException("The background model needs at least one training image.", nameof(images));
        if (categories is < 2 or > 256)
            throw new ArgumentOutOfRangeException(nameof(categories), categories, "Categories must lie in 2..256.");
        var model = new LocalPixelModel(images.Height, images.Width, images.Channels, categories,
            new float[images.Channels * (Contexts + 1) * categories]);
        int stride = model.ChannelStride, size = images.ImageSize;
        var counts = new long[model.logProbabilities.Length];
        for (int i = 0; i < images.Count; i++)
        {
            var image = images.Image(i);
            for (int d = 0; d < size; d++)
            {
                if (image[d] >= categories)
                    throw new ArgumentException($"{images.Name} image {i}, value {d}: {image[d]} is outside 0..{categories - 1}.", nameof(images));
                int channel = d % images.Channels;
                counts[channel * stride + model.Context(image, d) * categories + image[d]]++;
                counts[channel * stride + Contexts * categories + image[d]]++;
            }
        }
        for (int row = 0; row < model.logProbabilities.Length / categories; row++)
        {
            var rowCounts = counts.AsSpan(row * categories, categories);
            long total = 0;
            foreach (long n in rowCounts) total += n;
            double denominator = total + categories / 2.0;
            for (int v = 0; v < categories; v++)
                model.logProbabilities[row * categories + v] = (float)Math.Log((rowCounts[v] + 0.5) / denominator);
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
        int stride = ChannelStride, histogram = Contexts * Categories;
        double context = 0, values = 0;
        for (int d = 0; d < image.Length; d++)
        {
            int row = d % Channels * stride;
            context += logProbabilities[row + Context(image, d) * Categories + image[d]];
            values += logProbabilities[row + histogram + image[d]];
        }
        return 0.5 * (context + values);
    }

    /// <summary>Per channel, (context·Categories + v) for the context model then (Contexts·Categories + v) for the histogram (the ONNX exporter's table).</summary>
    internal ReadOnlySpan<float> LogProbabilityTable => logProbabilities;

    internal override void Save(BinaryWriter writer)
    {
        writer.Write(FormatVersion);
        writer.Write(Height); writer.Write(Width); writer.Write(Channels); writer.Write(Categories); writer.Write(ContextLevels);
        foreach (float value in logProbabilities) writer.Write(value);
    }

    internal static LocalPixelModel Load(BinaryReader reader, string source)
    {
        int version = reader.ReadInt32();
        if (version != FormatVersion)
            throw new InvalidDataException($"{source}: local background model format {version} is not supported (this library reads format {FormatVersion}).");
        int height = reader.ReadInt32(), width = reader.ReadInt32(), channels = reader.ReadInt32(), categories = reader.ReadInt32(), levels = reader.ReadInt32();
        if (height < 1 || width < 1 || channels < 1 || categories is < 2 or > 256 || levels != ContextLevels || (long)height * width * channels > 1 << 28 || channels > 64)
            throw new InvalidDataException(
                $"{source}: the local background model header is corrupt ({height}×{width}×{channels}, {categories} categories, {levels} context levels; expected {ContextLevels}).");
        var log = new float[channels * (Contexts + 1) * categories];
        for (int j = 0; j < log.Length; j++)
        {
            log[j] = reader.ReadSingle();
            if (!(log[j] <= 0) || float.IsInfinity(log[j]))
                throw new InvalidDataException($"{source}: the local background model holds an invalid log-probability ({log[j]}) at entry {j}.");
        }
        return new LocalPixelModel(height, width, channels, categories, log);
    }
}
