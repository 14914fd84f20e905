using SkiaSharp;

namespace Microsoft.ML.Circuits.Data;

/// <summary>How images of a folder are turned into fixed-size pixel grids.</summary>
public sealed record ImageFolderOptions
{
    /// <summary>Side of the centred square crop taken first (CelebA: 140); null to skip cropping.</summary>
    public int? CropSize { get; init; } = 140;

    /// <summary>Side of the square the crop is resized to (CelebA: 64).</summary>
    public int Size { get; init; } = 64;

    /// <summary>3 for RGB (channel order R, G, B), 1 for grayscale.</summary>
    public int Channels { get; init; } = 3;

    /// <summary>At most this many images per split (for quick experiments); null for all.</summary>
    public int? Limit { get; init; }
}
