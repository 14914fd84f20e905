using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Circuits.Training;

namespace Microsoft.ML.Circuits;

/// <summary>
/// The anomaly scores of <see cref="AnomalyScore"/>, computed from a circuit's exact log-likelihoods exactly as
/// <see cref="CircuitAnomalyDetectionTransformer"/> computes them (the command line's <c>ood</c> uses this class).
/// </summary>
public static class AnomalyScores
{
    /// <summary>
    /// The automatic choice prefers this score (the best across the benchmark in <c>docs/benchmarks.md</c>) when the
    /// circuit has learned more than local statistics; see <see cref="Choose"/>.
    /// </summary>
    public const AnomalyScore DefaultScore = AnomalyScore.LocalComplexity;

    /// <summary>
    /// How much shorter, in bits per dimension, the circuit's code for its training images must be than the
    /// <see cref="LocalPixelModel"/>'s for <see cref="Choose"/> to pick <see cref="AnomalyScore.LocalComplexity"/>.
    /// </summary>
    public const double LocalComplexityMargin = 0.25;

    /// <summary>
    /// The automatic choice of score (what the anomaly trainer uses when no score is set):
    /// <see cref="AnomalyScore.LocalComplexity"/> when the circuit codes the training images at least
    /// <see cref="LocalComplexityMargin"/> bits per dimension shorter than the local pixel model does — it has learned
    /// structure beyond local statistics, so measuring it against the local model isolates that structure — and
    /// <see cref="AnomalyScore.InputComplexity"/> otherwise: an under-trained circuit is barely better than the local
    /// model, and the ratio against it then carries little but noise (docs/benchmarks.md measures both cases).
    /// </summary>
    /// <param name="circuitBitsPerDimension">The circuit's mean bits per dimension on the training images.</param>
    /// <param name="localBitsPerDimension">The local pixel model's mean bits per dimension on the same images.</param>
    public static AnomalyScore Choose(double circuitBitsPerDimension, double localBitsPerDimension) =>
        circuitBitsPerDimension <= localBitsPerDimension - LocalComplexityMargin ? AnomalyScore.LocalComplexity : AnomalyScore.InputComplexity;

    /// <summary>
    /// <see cref="Choose"/> on <paramref name="images"/>: the circuit's mean bits per dimension from its
    /// already computed log-likelihoods, and the local model's on the same images; both means are returned for reporting.
    /// </summary>
    internal static (AnomalyScore Score, double CircuitBitsPerDimension, double LocalBitsPerDimension) ChooseOn(
        IReadOnlyList<double> logLikelihoods, ImageDataset images, LocalPixelModel local)
    {
        int dimensions = images.ImageSize;
        double circuit = 0, localBits = 0;
        for (int i = 0; i < images.Count; i++)
        {
            circuit += Evaluation.BitsPerDimension(logLikelihoods[i], dimensions);
            localBits += local.BitsPerDimension(images.Image(i));
        }
        circuit /= images.Count;
        localBits /= images.Count;
        return (Choose(circuit, localBits), circuit, localBits);
    }

    /// <summary>The codec <see cref="AnomalyScore.InputComplexity"/> uses unless told otherwise (chosen by measurement, <c>docs/benchmarks.md</c>).</summary>
    public const ComplexityCodec DefaultCodec = ComplexityCodec.Deflate;

    /// <summary>The score of every image of <paramref name="images"/> under <paramref name="circuit"/>, in order.</summary>
    /// <param name="circuit">A trained circuit of the images' shape.</param>
    /// <param name="images">The images (quantised bytes).</param>
    /// <param name="score">Which score.</param>
    /// <param name="codec">The codec of <see cref="AnomalyScore.InputComplexity"/> and <see cref="AnomalyScore.LocalComplexity"/> (ignored by the other scores).</param>
    /// <param name="background">The background model: a <see cref="PixelBackgroundModel"/> for <see cref="AnomalyScore.LikelihoodRatio"/>, a
    /// <see cref="LocalPixelModel"/> for <see cref="AnomalyScore.LocalComplexity"/> (required by those, ignored by the others).</param>
    /// <param name="batchSize">Images per circuit evaluation.</param>
    public static double[] Compute(TensorizedCircuit circuit, ImageDataset images, AnomalyScore score, ComplexityCodec codec = DefaultCodec,
        BackgroundModel? background = null, int batchSize = 512)
    {
        ArgumentNullException.ThrowIfNull(circuit);
        ArgumentNullException.ThrowIfNull(images);
        var d = circuit.Description;
        Check(score, codec, background, d.ImageHeight, d.ImageWidth, d.Channels);
        return FromLogLikelihoods(Evaluation.LogLikelihoods(circuit, images, batchSize), images, score, codec, background);
    }

    /// <summary>
    /// The score of every image of <paramref name="images"/> from its already computed natural-log likelihood
    /// (<see cref="Evaluation.LogLikelihoods(TensorizedCircuit, ImageDataset, ScoringMode, int)"/>), so several scores can share one circuit evaluation.
    /// </summary>
    /// <param name="logLikelihoods">One normalised log-likelihood per image, in order.</param>
    /// <param name="images">The images that were scored.</param>
    /// <param name="score">Which score.</param>
    /// <param name="codec">The codec of the complexity scores.</param>
    /// <param name="background">The background model of <see cref="AnomalyScore.LikelihoodRatio"/> or <see cref="AnomalyScore.LocalComplexity"/> (see <see cref="Compute"/>).</param>
    public static double[] FromLogLikelihoods(IReadOnlyList<double> logLikelihoods, ImageDataset images, AnomalyScore score,
        ComplexityCodec codec = DefaultCodec, BackgroundModel? background = null)
    {
        ArgumentNullException.ThrowIfNull(logLikelihoods);
        ArgumentNullException.ThrowIfNull(images);
        if (logLikelihoods.Count != images.Count)
            throw new ArgumentException($"{logLikelihoods.Count} log-likelihoods for {images.Count} images.", nameof(logLikelihoods));
        Check(score, codec, background, images.Height, images.Width, images.Channels);
        var result = new double[images.Count];
        for (int i = 0; i < result.Length; i++)
            result[i] = FromLogLikelihood(logLikelihoods[i], images.Image(i), images.Height, images.Width, images.Channels, score, codec, background);
        return result;
    }

    /// <summary>Complexity L(x) / D of one image (H·W·C bytes, pixel-major) in bits per dimension.</summary>
    /// <param name="image">The image's quantised values.</param>
    /// <param name="height">Image height.</param>
    /// <param name="width">Image width.</param>
    /// <param name="channels">Channels per pixel.</param>
    /// <param name="codec">The lossless codec.</param>
    public static double ComplexityBitsPerDimension(ReadOnlySpan<byte> image, int height, int width, int channels, ComplexityCodec codec = DefaultCodec)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        return (double)ImageComplexity.CompressedBits(image, height, width, channels, codec) / (height * width * channels);
    }

    /// <summary>Throws when the score cannot be computed with these settings.</summary>
    internal static void Check(AnomalyScore score, ComplexityCodec codec, BackgroundModel? background, int height, int width, int channels)
    {
        if (!Enum.IsDefined(score))
            throw new ArgumentOutOfRangeException(nameof(score), score, $"Unknown anomaly score; expected one of: {string.Join(", ", Enum.GetNames<AnomalyScore>())}.");
        if (score is AnomalyScore.InputComplexity or AnomalyScore.LocalComplexity && !Enum.IsDefined(codec))
            throw new ArgumentOutOfRangeException(nameof(codec), codec, $"Unknown complexity codec; expected one of: {string.Join(", ", Enum.GetNames<ComplexityCodec>())}.");
        if (score is AnomalyScore.LikelihoodRatio or AnomalyScore.LocalComplexity)
        {
            string needed = score == AnomalyScore.LikelihoodRatio ? nameof(PixelBackgroundModel) : nameof(LocalPixelModel);
            if (background is null)
                throw new ArgumentException($"The {score} score needs a background model: fit one with {needed}.Fit on the training images.", nameof(background));
            if (score == AnomalyScore.LikelihoodRatio ? background is not PixelBackgroundModel : background is not LocalPixelModel)
                throw new ArgumentException($"The {score} score needs a {needed} as its background, not a {background.GetType().Name}.", nameof(background));
            if (background.Height != height || background.Width != width || background.Channels != channels)
                throw new ArgumentException(
                    $"The background model is for {background.Height}×{background.Width}×{background.Channels} images but the circuit models {height}×{width}×{channels}.", nameof(background));
        }
    }

    /// <summary>One image's score from its natural-log likelihood; the image is the quantised pixel vector that was scored.</summary>
    internal static double FromLogLikelihood(double logLikelihood, ReadOnlySpan<byte> image, int height, int width, int channels,
        AnomalyScore score, ComplexityCodec codec, BackgroundModel? background)
    {
        int dimensions = height * width * channels;
        double bpd = Evaluation.BitsPerDimension(logLikelihood, dimensions);
        return score switch
        {
            AnomalyScore.BitsPerDimension => bpd,
            AnomalyScore.InputComplexity => bpd - ComplexityBitsPerDimension(image, height, width, channels, codec),
            AnomalyScore.LikelihoodRatio => bpd - Evaluation.BitsPerDimension(background!.LogLikelihood(image), dimensions),
            AnomalyScore.LocalComplexity => bpd - Math.Min(ComplexityBitsPerDimension(image, height, width, channels, codec),
                ((LocalPixelModel)background!).BitsPerDimension(image)),
            _ => throw new ArgumentOutOfRangeException(nameof(score), score, "Unknown anomaly score."),
        };
    }
}
