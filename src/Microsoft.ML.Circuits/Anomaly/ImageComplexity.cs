using System.IO.Compression;
using System.Runtime.InteropServices;
using SkiaSharp;

namespace Microsoft.ML.Circuits;

/// <summary>
/// L(x): the size in bits of one image compressed by a lossless codec. The image is the quantised pixel vector a
/// circuit scores (H·W·C bytes, pixel-major: pixel d's channel c at d·C + c). One channel is encoded as an 8-bit
/// grey image, three as an opaque RGB image; any other channel count as its channel planes stacked vertically in one
/// grey image.
/// </summary>
internal static class ImageComplexity
{
    static readonly SKPngEncoderOptions PngOptions = new(SKPngEncoderFilterFlags.AllFilters, 9);
    static readonly SKWebpEncoderOptions WebpOptions = new(SKWebpEncoderCompression.Lossless, 100);

    /// <summary>The compressed size of <paramref name="image"/> in bits.</summary>
    public static long CompressedBits(ReadOnlySpan<byte> image, int height, int width, int channels, ComplexityCodec codec)
    {
        if (image.Length != height * width * channels)
            throw new ArgumentException($"The image has {image.Length} values, not {height}×{width}×{channels} = {height * width * channels}.", nameof(image));
        return 8L * codec switch
        {
            ComplexityCodec.Png or ComplexityCodec.WebpLossless => EncodeWithSkia(image, height, width, channels, codec),
            ComplexityCodec.Deflate => DeflateSize(image),
            ComplexityCodec.Brotli => BrotliSize(image),
            _ => throw new ArgumentOutOfRangeException(nameof(codec), codec, $"Unknown complexity codec; expected one of: {string.Join(", ", Enum.GetNames<ComplexityCodec>())}."),
        };
    }

    static long EncodeWithSkia(ReadOnlySpan<byte> image, int height, int width, int channels, ComplexityCodec codec)
    {
        byte[] buffer;
        SKImageInfo info;
        if (channels == 3)
        {
            buffer = new byte[height * width * 4];
            for (int p = 0; p < height * width; p++)
            {
                buffer[4 * p] = image[3 * p];
                buffer[4 * p + 1] = image[3 * p + 1];
                buffer[4 * p + 2] = image[3 * p + 2];
                buffer[4 * p + 3] = 255;
            }
            info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        }
        else
        {
            buffer = channels == 1 ? image.ToArray() : Planes(image, height * width, channels);
            info = new SKImageInfo(width, height * channels, SKColorType.Gray8, SKAlphaType.Opaque);
        }
        var handle = GCHandle.Alloc(buffer, GCHandleType.Pinned);
        try
        {
            using var pixmap = new SKPixmap(info, handle.AddrOfPinnedObject(), info.RowBytes);
            using var data = codec == ComplexityCodec.Png ? pixmap.Encode(PngOptions) : pixmap.Encode(WebpOptions);
            if (data is null) throw new InvalidOperationException($"SkiaSharp could not encode a {info.Width}×{info.Height} {info.ColorType} image as {codec}.");
            return data.Size;
        }
        finally
        {
            handle.Free();
        }
    }

    static byte[] Planes(ReadOnlySpan<byte> image, int pixels, int channels)
    {
        var planes = new byte[image.Length];
        for (int p = 0; p < pixels; p++)
            for (int c = 0; c < channels; c++)
                planes[c * pixels + p] = image[p * channels + c];
        return planes;
    }

    static long DeflateSize(ReadOnlySpan<byte> image)
    {
        using var output = new MemoryStream();
        using (var deflate = new DeflateStream(output, CompressionLevel.SmallestSize, leaveOpen: true))
            deflate.Write(image);
        return output.Length;
    }

    static long BrotliSize(ReadOnlySpan<byte> image)
    {
        var destination = new byte[BrotliEncoder.GetMaxCompressedLength(image.Length)];
        if (!BrotliEncoder.TryCompress(image, destination, out int written, quality: 11, window: 22))
            throw new InvalidOperationException("Brotli could not compress the image into its maximum compressed length.");
        return written;
    }
}
