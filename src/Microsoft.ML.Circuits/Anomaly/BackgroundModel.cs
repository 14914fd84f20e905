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
}
