namespace Microsoft.ML.Circuits;

/// <summary>The lossless codec whose output size estimates an image's complexity L(x) for <see cref="AnomalyScore.InputComplexity"/>.</summary>
public enum ComplexityCodec
{
    /// <summary>PNG (SkiaSharp's encoder, all row filters, zlib level 9).</summary>
    Png,

    /// <summary>Lossless WebP (SkiaSharp's encoder, quality 100: the slowest, smallest setting).</summary>
    WebpLossless,

    /// <summary>Deflate (System.IO.Compression, smallest size) of the raw pixel bytes in row-major order.</summary>
    Deflate,

    /// <summary>Brotli (System.IO.Compression, quality 11, window 22) of the raw pixel bytes in row-major order.</summary>
    Brotli,
}
