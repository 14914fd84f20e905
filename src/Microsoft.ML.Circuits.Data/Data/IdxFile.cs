using System.Buffers.Binary;
using System.IO.Compression;

namespace Microsoft.ML.Circuits.Data;

/// <summary>
/// Reads and writes IDX files (the MNIST / Fashion-MNIST format): a big-endian magic number (0x0000 0x08 n: unsigned
/// bytes, n dimensions), n big-endian int32 sizes, then the data. Files may be gzip-compressed (detected by content).
/// Every inconsistency — wrong magic, wrong number of dimensions, truncation, trailing bytes — is an
/// <see cref="InvalidDataException"/> that names the file.
/// </summary>
public static class IdxFile
{
    /// <summary>Magic number of an image file: unsigned bytes, 3 dimensions (count, rows, columns).</summary>
    public const int ImagesMagic = 0x00000803;

    /// <summary>Magic number of a label file: unsigned bytes, 1 dimension (count).</summary>
    public const int LabelsMagic = 0x00000801;

    /// <summary>Reads an image file: (count, rows, columns) and count·rows·columns bytes, row-major.</summary>
    public static (int Count, int Rows, int Columns, byte[] Pixels) ReadImages(string path)
    {
        var (dims, data) = Read(path, ImagesMagic, 3);
        return (dims[0], dims[1], dims[2], data);
    }

    /// <summary>Reads a label file.</summary>
    public static byte[] ReadLabels(string path) => Read(path, LabelsMagic, 1).Data;

    /// <summary>Writes images (uncompressed, or gzip when the path ends in .gz).</summary>
    public static void WriteImages(string path, int count, int rows, int columns, ReadOnlySpan<byte> pixels)
    {
        if (pixels.Length != (long)count * rows * columns)
            throw new ArgumentException($"Expected {count}·{rows}·{columns} pixels, got {pixels.Length}.", nameof(pixels));
        Write(path, ImagesMagic, [count, rows, columns], pixels);
    }

    /// <summary>Writes labels (uncompressed, or gzip when the path ends in .gz).</summary>
    public static void WriteLabels(string path, ReadOnlySpan<byte> labels) => Write(path, LabelsMagic, [labels.Length], labels);

    static void Write(string path, int magic, int[] dims, ReadOnlySpan<byte> data)
    {
        using var file = File.Create(path);
        using Stream stream = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(file, CompressionLevel.Optimal) : file;
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, magic);
        stream.Write(word);
        foreach (int d in dims)
        {
            BinaryPrimitives.WriteInt32BigEndian(word, d);
            stream.Write(word);
        }
        stream.Write(data);
    }

    static (int[] Dims, byte[] Data) Read(string path, int expectedMagic, int expectedDims)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"IDX file not found: {path}", path);
        byte[] raw = File.ReadAllBytes(path);
        if (raw.Length >= 2 && raw[0] == 0x1f && raw[1] == 0x8b)
        {
            try
            {
                using var gzip = new GZipStream(new MemoryStream(raw), CompressionMode.Decompress);
                using var inflated = new MemoryStream();
                gzip.CopyTo(inflated);
                raw = inflated.ToArray();
            }
            catch (InvalidDataException e)
            {
                throw new InvalidDataException($"{path}: the gzip stream is corrupt or truncated ({e.Message}).", e);
            }
        }
        if (raw.Length < 4 + 4 * expectedDims)
            throw new InvalidDataException($"{path}: truncated header ({raw.Length} bytes; an IDX header with {expectedDims} dimension(s) has {4 + 4 * expectedDims}).");
        int magic = BinaryPrimitives.ReadInt32BigEndian(raw);
        if (magic != expectedMagic)
        {
            string what = expectedMagic == ImagesMagic ? "an image file (magic 2051)" : "a label file (magic 2049)";
            throw new InvalidDataException($"{path}: bad magic number {magic} (0x{magic:x8}); expected {what}.");
        }
        var dims = new int[expectedDims];
        long size = 1;
        for (int i = 0; i < expectedDims; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(raw.AsSpan(4 + 4 * i));
            if (dims[i] < 0)
                throw new InvalidDataException($"{path}: dimension {i} is negative ({dims[i]}).");
            size *= dims[i];
        }
        int header = 4 + 4 * expectedDims;
        long available = raw.Length - header;
        if (available < size)
            throw new InvalidDataException($"{path}: truncated: the header announces {string.Join("×", dims)} = {size} bytes of data, but only {available} follow.");
        if (available > size)
            throw new InvalidDataException($"{path}: {available - size} unexpected bytes after the {string.Join("×", dims)} data.");
        return (dims, raw[header..]);
    }
}
