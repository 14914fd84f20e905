namespace Microsoft.ML.Circuits.Onnx;

/// <summary>
/// How an exported ONNX model receives its images: the element type, shape and channel order of its <c>pixels</c>
/// input and the scale of float values. Outputs are always <c>log_likelihood</c> (normalised, natural log) and
/// <c>bits_per_dimension</c>, float <c>[N]</c>.
/// </summary>
public sealed class OnnxExportOptions
{
    /// <summary>The element type of <c>pixels</c> (default <see cref="OnnxPixelType.Float"/>).</summary>
    public OnnxPixelType PixelType { get; init; } = OnnxPixelType.Float;

    /// <summary>The shape of <c>pixels</c> (default <see cref="OnnxPixelShape.Image"/>, <c>[N, C, H, W]</c>).</summary>
    public OnnxPixelShape Shape { get; init; } = OnnxPixelShape.Image;

    /// <summary>True for channels last (<c>[N, H, W, C]</c>, interleaved); false for channel-major (<c>[N, C, H, W]</c>,
    /// planar, the default). Irrelevant for one channel.</summary>
    public bool ChannelsLast { get; init; }

    /// <summary>What float pixels are multiplied by before rounding: 1 (default) for 0..255 values, 255 for 0..1 values.
    /// Must be 1 for <see cref="OnnxPixelType.Byte"/>.</summary>
    public float PixelScale { get; init; } = 1f;

    /// <summary>
    /// True to read NaN in float pixels as a missing pixel (a pixel with NaN in any channel): <c>log_likelihood</c> is
    /// then the exact marginal log p(x_observed) with the missing pixels summed out, and <c>bits_per_dimension</c>
    /// divides by the observed values only (NaN when nothing is observed) — what the ML.NET transformer computes with
    /// <c>AllowMissingPixels</c>. False (default): pixels must not be NaN (ONNX Runtime then fails on an index out of
    /// range). Float pixels only.
    /// </summary>
    public bool MissingPixels { get; init; }

    internal void Validate()
    {
        if (!Enum.IsDefined(PixelType))
            throw new ArgumentOutOfRangeException(nameof(PixelType), PixelType, $"Unknown pixel type; expected one of: {string.Join(", ", Enum.GetNames<OnnxPixelType>())}.");
        if (!Enum.IsDefined(Shape))
            throw new ArgumentOutOfRangeException(nameof(Shape), Shape, $"Unknown pixel shape; expected one of: {string.Join(", ", Enum.GetNames<OnnxPixelShape>())}.");
        if (!(PixelScale > 0) || !float.IsFinite(PixelScale))
            throw new ArgumentOutOfRangeException(nameof(PixelScale), PixelScale, "PixelScale must be a positive finite number (1 for 0..255 values, 255 for 0..1 values).");
        if (PixelType == OnnxPixelType.Byte && PixelScale != 1f)
            throw new ArgumentException($"PixelScale = {PixelScale} applies to float pixels only; byte pixels are the categories themselves (use PixelScale = 1).", nameof(PixelScale));
        if (PixelType == OnnxPixelType.Byte && MissingPixels)
            throw new ArgumentException("MissingPixels reads NaN as missing, which only float pixels can hold; use PixelType = Float.", nameof(MissingPixels));
    }
}
