using Microsoft.ML.Circuits;
using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Circuits.Onnx;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Circuits.Cli;

/// <summary>Images of an <see cref="ImageDataset"/> (pixel-major bytes) as the <c>pixels</c> input of an exported model.</summary>
internal static class OnnxPixels
{
    /// <summary>Images <paramref name="start"/>..+<paramref name="count"/> laid out as <paramref name="options"/> describe.</summary>
    public static NamedOnnxValue Input(ImageDataset images, int start, int count, OnnxExportOptions options)
    {
        int h = images.Height, w = images.Width, c = images.Channels, size = images.ImageSize;
        int[] shape = options.Shape == OnnxPixelShape.Flat ? [count, size] : options.ChannelsLast ? [count, h, w, c] : [count, c, h, w];
        if (options.PixelType == OnnxPixelType.Byte)
        {
            var bytes = new byte[count * size];
            for (int i = 0; i < count; i++) Lay(images.Image(start + i), bytes.AsSpan(i * size), h * w, c, options.ChannelsLast, v => v);
            return NamedOnnxValue.CreateFromTensor("pixels", new DenseTensor<byte>(bytes, shape));
        }
        var floats = new float[count * size];
        float scale = options.PixelScale;
        for (int i = 0; i < count; i++) Lay(images.Image(start + i), floats.AsSpan(i * size), h * w, c, options.ChannelsLast, v => v / scale);
        return NamedOnnxValue.CreateFromTensor("pixels", new DenseTensor<float>(floats, shape));
    }

    static void Lay<T>(ReadOnlySpan<byte> image, Span<T> destination, int pixels, int channels, bool channelsLast, Func<byte, T> convert)
    {
        for (int d = 0; d < pixels; d++)
            for (int ch = 0; ch < channels; ch++)
                destination[channelsLast ? d * channels + ch : ch * pixels + d] = convert(image[d * channels + ch]);
    }

    /// <summary>Up to <paramref name="count"/> images for checking a model of <paramref name="description"/>'s shape: the
    /// bundled MNIST test digits for 28×28×1, otherwise seeded uniformly random pixels.</summary>
    public static ImageDataset CheckImages(CircuitDescription description, int count)
    {
        if (description is { ImageHeight: 28, ImageWidth: 28, Channels: 1, Categories: 256 })
        {
            var test = Datasets.Load("mnist").Test;
            return test.Subset([.. Enumerable.Range(0, Math.Min(count, test.Count))], "mnist test");
        }
        var random = new Random(42);
        var pixels = new byte[count * description.Dimensions];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)random.Next(description.Categories);
        return new ImageDataset(description.ImageHeight, description.ImageWidth, description.Channels, pixels, name: "random pixels");
    }
}
