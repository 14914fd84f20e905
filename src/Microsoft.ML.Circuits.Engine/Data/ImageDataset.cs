using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Data;

/// <summary>
/// Images held in memory as bytes: image-major, then pixels in row-major order, then channels (so one image is
/// H·W·C bytes and pixel d's channel c is at d·C + c). Values are categories 0..255. Labels are optional.
/// </summary>
public sealed class ImageDataset
{
    readonly byte[] pixels;
    readonly int[]? labels;

    /// <summary>Wraps <paramref name="pixels"/> (not copied).</summary>
    public ImageDataset(int height, int width, int channels, byte[] pixels, int[]? labels = null, string name = "")
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        ArgumentNullException.ThrowIfNull(pixels);
        long imageBytes = (long)height * width * channels;
        if (imageBytes > Array.MaxLength)
            throw new ArgumentException($"{name}: images of {height}×{width}×{channels} = {imageBytes:N0} bytes are larger than one array can hold.", nameof(height));
        int size = (int)imageBytes;
        if (pixels.Length % size != 0)
            throw new ArgumentException($"The pixel buffer ({pixels.Length} bytes) is not a whole number of {height}×{width}×{channels} images.", nameof(pixels));
        if (labels is not null && labels.Length != pixels.Length / size)
            throw new ArgumentException($"{labels.Length} labels for {pixels.Length / size} images.", nameof(labels));
        Height = height; Width = width; Channels = channels;
        this.pixels = pixels; this.labels = labels; Name = name;
    }

    /// <summary>A short name for messages (e.g. <c>mnist/train</c>).</summary>
    public string Name { get; }

    /// <summary>Image height.</summary>
    public int Height { get; }

    /// <summary>Image width.</summary>
    public int Width { get; }

    /// <summary>Channels per pixel.</summary>
    public int Channels { get; }

    /// <summary>Number of images.</summary>
    public int Count => pixels.Length / ImageSize;

    /// <summary>Bytes per image: H·W·C.</summary>
    public int ImageSize => Height * Width * Channels;

    /// <summary>The largest pixel value of any image (0 when empty); computed once.</summary>
    public int MaxValue
    {
        get
        {
            if (maxValue is { } known) return known;
            int max = 0;
            foreach (byte b in pixels) if (b > max) max = b;
            maxValue = max;
            return max;
        }
    }

    int? maxValue;

    /// <summary>True when labels are present.</summary>
    public bool HasLabels => labels is not null;

    /// <summary>The bytes of image <paramref name="index"/>.</summary>
    public ReadOnlySpan<byte> Image(int index) => pixels.AsSpan(checked(index * ImageSize), ImageSize);

    /// <summary>The label of image <paramref name="index"/>.</summary>
    public int Label(int index) => labels is null ? throw new InvalidOperationException($"{Name} has no labels.") : labels[index];

    /// <summary>A new dataset with the images at <paramref name="indices"/>, in that order (copied).</summary>
    public ImageDataset Subset(IReadOnlyList<int> indices, string? name = null)
    {
        var copy = new byte[(long)indices.Count * ImageSize];
        var subsetLabels = labels is null ? null : new int[indices.Count];
        for (int i = 0; i < indices.Count; i++)
        {
            Image(indices[i]).CopyTo(copy.AsSpan(i * ImageSize));
            if (subsetLabels is not null) subsetLabels[i] = labels![indices[i]];
        }
        return new ImageDataset(Height, Width, Channels, copy, subsetLabels, name ?? Name);
    }

    /// <summary>The images whose label is <paramref name="label"/>.</summary>
    public ImageDataset WithLabel(int label) =>
        Subset(Enumerable.Range(0, Count).Where(i => Label(i) == label).ToList(), $"{Name}[label={label}]");

    /// <summary>A batch as an int64 tensor (B, D, C) on <paramref name="device"/>, the circuit's input layout.</summary>
    public Tensor Batch(ReadOnlySpan<int> indices, Device? device = null)
    {
        var buffer = new byte[(long)indices.Length * ImageSize];
        for (int i = 0; i < indices.Length; i++)
            Image(indices[i]).CopyTo(buffer.AsSpan(i * ImageSize));
        using var bytes = torch.tensor(buffer, [indices.Length, Height * Width, Channels]);
        return bytes.to(ScalarType.Int64, device ?? torch.CPU);
    }

    /// <summary>Images <paramref name="start"/>..start+count−1 as an int64 tensor (B, D, C).</summary>
    public Tensor Batch(int start, int count, Device? device = null)
    {
        using var bytes = torch.tensor(pixels.AsSpan(start * ImageSize, count * ImageSize).ToArray(), [count, Height * Width, Channels]);
        return bytes.to(ScalarType.Int64, device ?? torch.CPU);
    }
}
