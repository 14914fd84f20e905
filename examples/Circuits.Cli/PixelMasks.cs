namespace Circuits.Cli;

/// <summary>The missing-pixel masks of <c>inpaint</c> and <c>test --mask</c>: which pixels of an H×W image are hidden.</summary>
internal static class PixelMasks
{
    public const string Names = "left | right | top | bottom | center | random";

    /// <summary>
    /// The mask of image <paramref name="image"/> (H·W flags, row-major, true = missing): a half of the image, the
    /// central square of half the side, or (random) each pixel with probability ½ from <paramref name="seed"/> and the
    /// image's index.
    /// </summary>
    public static bool[] Create(string name, int height, int width, int image, int seed)
    {
        var mask = new bool[height * width];
        var random = new Random(HashCode.Combine(seed, image));
        for (int r = 0; r < height; r++)
            for (int c = 0; c < width; c++)
                mask[r * width + c] = name switch
                {
                    "left" => c < width / 2,
                    "right" => c >= width - width / 2,
                    "top" => r < height / 2,
                    "bottom" => r >= height - height / 2,
                    "center" => r >= height / 4 && r < height / 4 + (height + 1) / 2 && c >= width / 4 && c < width / 4 + (width + 1) / 2,
                    "random" => random.NextDouble() < 0.5,
                    _ => throw new ArgumentException($"Unknown --mask '{name}'; use {Names}."),
                };
        return mask;
    }

    /// <summary>Checks a mask name before any work starts.</summary>
    public static string Check(string? name)
    {
        string normalized = (name ?? "").Trim().ToLowerInvariant();
        _ = Create(normalized, 1, 1, 0, 0);
        return normalized;
    }
}
