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
        if (dims[1] < 1 || dims[2] < 1)
            throw new InvalidDataException($"{path}: the images are {dims[1]}×{dims[2]} pixels; rows and columns must be at least 1.");
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
        if (Directory.Exists(path))
            throw new InvalidDataException($"{path} is a folder; expected an IDX file.");
        if (!File.Exists(path))
            throw new FileNotFoundException($"IDX file not found: {path}", path);
        byte[] raw = File.ReadAllBytes(path);
        if (raw.Length >= 2 && raw[0] == 0x1f && raw[1] == 0x8b)
            raw = Inflate(path, raw, expectedMagic, expectedDims);
        if (raw.Length < 4 + 4 * expectedDims)
            throw new InvalidDataException($"{path}: truncated header ({raw.Length} bytes; an IDX header with {expectedDims} dimension(s) has {4 + 4 * expectedDims}).");
        int magic = BinaryPrimitives.ReadInt32BigEndian(raw);
        if (magic != expectedMagic)
        {
            string what = expectedMagic == ImagesMagic ? "an image file (magic 2051)" : "a label file (magic 2049)";
            throw new InvalidDataException($"{path}: bad magic number {magic} (0x{magic:x8}); expected {what}.");
        }
        var dims = Dimensions(path, raw, expectedDims);
        long size = DataSize(path, dims);
        int header = 4 + 4 * expectedDims;
        long available = raw.Length - header;
        if (available < size)
            throw new InvalidDataException($"{path}: truncated: the header announces {string.Join("×", dims)} = {size} bytes of data, but only {available} follow.");
        if (available > size)
            throw new InvalidDataException($"{path}: {available - size} unexpected bytes after the {string.Join("×", dims)} data.");
        return (dims, raw[header..]);
    }

    static int[] Dimensions(string path, ReadOnlySpan<byte> header, int count)
    {
        var dims = new int[count];
        for (int i = 0; i < count; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(header[(4 + 4 * i)..]);
            if (dims[i] < 0)
                throw new InvalidDataException($"{path}: dimension {i} is negative ({dims[i]}).");
        }
        return dims;
    }

    /// <summary>The product of the dimensions, checked: a header whose product does not fit in an array is named, not wrapped around.</summary>
    static long DataSize(string path, int[] dims)
    {
        long size = 1;
        for (int i = 0; i < dims.Length; i++)
        {
            try { size = checked(size * dims[i]); }
            catch (OverflowException) { size = long.MaxValue; }
            if (size > Array.MaxLength)
                throw new InvalidDataException($"{path}: the header announces {string.Join("×", dims)} bytes of data (dimension {i} = {dims[i]} takes it past " +
                    $"{Array.MaxLength:N0}, the most one array holds); the header is corrupt or the file is not an IDX file.");
        }
        return size;
    }

    /// <summary>
    /// Decompresses a gzip IDX file, reading no more than the header announces plus one byte (to detect trailing data): a
    /// corrupt header or a gzip bomb never makes it allocate more than the data actually present.
    /// </summary>
    static byte[] Inflate(string path, byte[] compressed, int expectedMagic, int expectedDims)
    {
        try
        {
            using var gzip = new GZipStream(new MemoryStream(compressed), CompressionMode.Decompress);
            int headerLength = 4 + 4 * expectedDims;
            var header = new byte[headerLength];
            int got = gzip.ReadAtLeast(header, headerLength, throwOnEndOfStream: false);
            if (got < headerLength) return header[..got];
            long size = BinaryPrimitives.ReadInt32BigEndian(header) == expectedMagic
                ? DataSize(path, Dimensions(path, header, expectedDims))
                : 0;
            long limit = headerLength + size + 1;
            using var inflated = new MemoryStream();
            inflated.Write(header);
            var buffer = new byte[1 << 16];
            while (inflated.Length < limit)
            {
                int n = gzip.Read(buffer, 0, (int)Math.Min(buffer.Length, limit - inflated.Length));
                if (n == 0) break;
                inflated.Write(buffer, 0, n);
            }
            return inflated.ToArray();
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith(path, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{path}: the gzip stream is corrupt or truncated ({e.Message}).", e);
        }
    }
}
