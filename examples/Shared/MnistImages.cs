using System.Buffers.Binary;
using System.IO.Compression;

namespace Circuits.Examples;

/// <summary>
/// Reads an IDX image file (optionally gzipped), e.g. the bundled MNIST sample, without any library: the ONNX
/// examples must not depend on the circuits libraries (and so on TorchSharp).
/// </summary>
internal static class MnistImages
{
    /// <summary>The bundled test digits, copied next to the example.</summary>
    public static string DefaultPath => Path.Combine(AppContext.BaseDirectory, "data", "t10k-images-idx3-ubyte.gz");

    /// <summary>Count, rows, columns and the pixels (count·rows·cols bytes, row-major).</summary>
    public static (int Count, int Rows, int Cols, byte[] Pixels) Read(string path)
    {
        using var file = File.OpenRead(path);
        using Stream stream = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(file, CompressionMode.Decompress) : file;
        var header = new byte[16];
        stream.ReadExactly(header);
        if (BinaryPrimitives.ReadInt32BigEndian(header) != 0x00000803)
            throw new InvalidDataException($"{path} is not an IDX image file (magic 0x803 expected).");
        int count = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(4));
        int rows = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(8));
        int cols = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(12));
        var pixels = new byte[checked(count * rows * cols)];
        stream.ReadExactly(pixels);
        return (count, rows, cols, pixels);
    }
}
