namespace Microsoft.ML.Circuits.Onnx;

/// <summary>The shape of an exported model's <c>pixels</c> input (N is the dynamic batch size).</summary>
public enum OnnxPixelShape
{
    /// <summary><c>[N, C, H, W]</c> (or <c>[N, H, W, C]</c> with <see cref="OnnxExportOptions.ChannelsLast"/>).</summary>
    Image,
    /// <summary><c>[N, C·H·W]</c>: each image flattened in the order of <see cref="Image"/> (what ML.NET's
    /// <c>ExtractPixels</c> vectors hold, so <c>ApplyOnnxModel</c> reads them as they are).</summary>
    Flat,
}
