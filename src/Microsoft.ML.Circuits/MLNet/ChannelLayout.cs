namespace Microsoft.ML.Circuits;

/// <summary>How the channels of a pixel vector are laid out.</summary>
public enum ChannelLayout
{
    /// <summary>Channel-major (C, H, W): all of channel 0, then channel 1, … (ML.NET's <c>ExtractPixels</c> default).</summary>
    Planar,
    /// <summary>Pixel-major (H, W, C): the channels of a pixel are adjacent (<c>ExtractPixels(interleavePixelColors: true)</c>).</summary>
    Interleaved,
}
