namespace Microsoft.ML.Circuits.RegionGraphs;

/// <summary>Validation of image shapes shared by the image region graphs.</summary>
internal static class ImageShape
{
    internal static void Validate(int height, int width, int minimumPixels, string what)
    {
        if (height < 1)
            throw new ArgumentOutOfRangeException(nameof(height), height, "The image height must be at least 1.");
        if (width < 1)
            throw new ArgumentOutOfRangeException(nameof(width), width, "The image width must be at least 1.");
        if ((long)height * width < minimumPixels)
            throw new ArgumentException($"A {height}×{width} image is too small for {what}: it needs at least {minimumPixels} pixels.", nameof(height));
        if ((long)height * width > 1 << 24)
            throw new ArgumentException($"A {height}×{width} image is too large: at most 2^24 pixels are supported.", nameof(height));
    }
}
