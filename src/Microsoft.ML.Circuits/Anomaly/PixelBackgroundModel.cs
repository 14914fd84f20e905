using Microsoft.ML.Circuits.Data;

namespace Microsoft.ML.Circuits;

/// <summary>
/// The background model of <see cref="AnomalyScore.LikelihoodRatio"/>: every pixel (and channel) an independent
/// categorical distribution over 0..255, fitted to the training images after Ren et al.'s input perturbation (each
/// value replaced by a uniformly random one with probability <see cref="MutationRate"/>). The perturbation is applied
/// in expectation, so the fit is exact and deterministic: q_d(v) = (1 − μ)·n_d(v)/N + μ/256. It captures the
/// population-level statistics (which pixels are usually dark, which bright) that the likelihood ratio divides out.
/// </summary>
public sealed class PixelBackgroundModel : BackgroundModel
{
    readonly float[] logProbabilities;

    PixelBackgroundModel(int height, int width, int channels, int categories, double mutationRate, float[] logProbabilities)
        : base(height, width, channels, categories)
    {
        MutationRate = mutationRate;
        this.logProbabilities = logProbabilities;
    }

    /// <summary>The perturbation rate μ the model was fitted with.</summary>
    public double MutationRate { get; }

    /// <summary>The default perturbation rate (0.1, the low end of the range Ren et al. tuned over).</summary>
    public const double DefaultMutationRate = 0.1;

    /// <summary>Fits the model to <paramref name="images"/>.</summary>
    /// <param name="images">The training images (at least one).</param>
    /// <param name="mutationRate">The perturbation rate μ, in (0, 1]: it keeps every probability positive.</param>
    /// <param name="categories">Values per pixel channel: every pixel must be below it.</param>
    public static PixelBackgroundModel Fit(ImageDataset images, double mutationRate = DefaultMutationRate, int categories = 256)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Count == 0) throw new ArgumentException("The background model needs at least one training image.", nameof(images));
        if (!(mutationRate > 0 && mutationRate <= 1))
            throw new ArgumentOutOfRangeException(nameof(mutationRate), mutationRate, "The mutation rate must lie in (0, 1].");
        if (categories is < 2 or > 256)
            throw new ArgumentOutOfRangeException(nameof(categories), categories, "Categories must lie in 2..256.");
        int size = images.ImageSize;
        var counts = new int[size * categories];
        for (int i = 0; i < images.Count; i++)
        {
            var image = images.Image(i);
            for (int d = 0; d < size; d++)
            {
                if (image[d] >= categories)
                    throw new ArgumentException($"{images.Name} image {i}, value {d}: {image[d]} is outside 0..{categories - 1}.", nameof(images));
                counts[d * categories + image[d]]++;
            }
        }
        var log = new float[counts.Length];
        double n = images.Count;
        for (int j = 0; j < counts.Length; j++)
            log[j] = (float)Math.Log((1 - mutationRate) * counts[j] / n + mutationRate / categories);
        return new PixelBackgroundModel(images.Height, images.Width, images.Channels, categories, mutationRate, log);
    }

    /// <summary>The natural-log likelihood of one image (H·W·C bytes, pixel-major as <see cref="ImageDataset"/> holds them).</summary>
    public override double LogLikelihood(ReadOnlySpan<byte> image)
    {
        CheckImage(image);
        double total = 0;
        for (int d = 0; d < image.Length; d++) total += logProbabilities[d * Categories + image[d]];
        return total;
    }

    /// <summary>log q_d(v) at index d·Categories + v, d over the H·W·C values pixel-major (the ONNX exporter's table).</summary>
    internal ReadOnlySpan<float> LogProbabilityTable => logProbabilities;

    const int FormatVersion = 1;

    internal override void Save(BinaryWriter writer)
    {
        WriteHeader(writer, FormatVersion);
        writer.Write(MutationRate);
        WriteTable(writer, logProbabilities);
    }

    internal static PixelBackgroundModel Load(BinaryReader reader, string source)
    {
        var (height, width, channels, categories) = ReadHeader(reader, FormatVersion, source, "background model");
        double rate = reader.ReadDouble();
        if (!(rate > 0 && rate <= 1) || (long)height * width * channels * categories > 1 << 28)
            throw new InvalidDataException($"{source}: the background model header is corrupt ({height}×{width}×{channels}, {categories} categories, rate {rate}).");
        var log = ReadTable(reader, height * width * channels * categories, source, "background model");
        return new PixelBackgroundModel(height, width, channels, categories, rate, log);
    }
}
