namespace Microsoft.ML.Circuits.Onnx;

/// <summary>The element type of an exported model's <c>pixels</c> input.</summary>
public enum OnnxPixelType
{
    /// <summary><c>float</c>: values are multiplied by <see cref="OnnxExportOptions.PixelScale"/>, rounded to the nearest
    /// integer and clipped to 0..Categories−1.</summary>
    Float,
    /// <summary><c>uint8</c>: values are the categories themselves (0..255).</summary>
    Byte,
}
