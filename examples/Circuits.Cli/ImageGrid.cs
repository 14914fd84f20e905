using Microsoft.ML.Circuits;
using SkiaSharp;

namespace Circuits.Cli;

/// <summary>
/// A PNG of images in a grid (SkiaSharp): cells of H×W pixels (1 channel: gray; 3 channels: RGB) scaled up by an
/// integer factor, with a gap between cells. Values 0..N−1 of an N-category model are stretched to 0..255. Hidden
/// pixels of a masked image are drawn in a flat colour.
/// </summary>
internal sealed class ImageGrid
{
    readonly int height, width, channels, rows, columns, scale;
    readonly byte[] levels;
    const int Gap = 2;
    static readonly SKColor Background = new(255, 255, 255);
    static readonly SKColor Hidden = new(40, 90, 200);
    readonly SKBitmap bitmap;

    public ImageGrid(int rows, int columns, int height, int width, int channels, int categories = 256)
    {
        levels = Enumerable.Range(0, 256).Select(v => (byte)Math.Min(255, (int)Math.Round(v * 255.0 / Math.Max(1, categories - 1)))).ToArray();
        if (channels is not (1 or 3))
            throw new ArgumentException($"Only grayscale (1 channel) and RGB (3 channels) images can be drawn; this model has {channels} channels.");
        (this.rows, this.columns, this.height, this.width, this.channels) = (rows, columns, height, width, channels);
        scale = Math.Max(1, 84 / Math.Max(height, width));
        long pixels = (long)(columns * (width * scale + Gap) + Gap) * (rows * (height * scale + Gap) + Gap);
        if (pixels > 100_000_000) throw new ArgumentException($"A grid of {rows}×{columns} images of {height}×{width} is too large to draw; ask for fewer images.");
        bitmap = new SKBitmap(columns * (width * scale + Gap) + Gap, rows * (height * scale + Gap) + Gap);
        bitmap.Erase(Background);
    }

    /// <summary>Draws one image (H·W·C bytes in (pixel, channel) order) at (row, column); pixels flagged in <paramref name="hidden"/> are drawn flat.</summary>
    public void Draw(int row, int column, ReadOnlySpan<byte> image, bool[]? hidden = null)
    {
        int left = Gap + column * (width * scale + Gap), top = Gap + row * (height * scale + Gap);
        for (int r = 0; r < height; r++)
            for (int c = 0; c < width; c++)
            {
                int d = r * width + c;
                SKColor color = hidden is not null && hidden[d] ? Hidden
                    : channels == 1 ? new SKColor(levels[image[d]], levels[image[d]], levels[image[d]])
                    : new SKColor(levels[image[d * 3]], levels[image[d * 3 + 1]], levels[image[d * 3 + 2]]);
                for (int y = 0; y < scale; y++)
                    for (int x = 0; x < scale; x++)
                        bitmap.SetPixel(left + c * scale + x, top + r * scale + y, color);
            }
    }

    /// <summary>Writes the PNG atomically; an existing file is replaced only when <paramref name="overwrite"/>.</summary>
    public void Save(string path, bool overwrite)
    {
        using var image = SKImage.FromBitmap(bitmap);
        using var png = image.Encode(SKEncodedImageFormat.Png, 100)
            ?? throw new IOException($"SkiaSharp could not encode the {rows}×{columns} grid as PNG.");
        CheckOutput(path, overwrite);
        AtomicFile.Write(path, stream => png.SaveTo(stream), overwrite);
    }

    /// <summary>Fails before any work when <paramref name="path"/> cannot be written: a folder, or an existing file without --overwrite.</summary>
    public static void CheckOutput(string path, bool overwrite)
    {
        if (Directory.Exists(path)) throw new ArgumentException($"--output {path} is a folder; give the path of a .png file.");
        if (File.Exists(path) && !overwrite) throw new ArgumentException($"--output {path} already exists; pass --overwrite to replace it.");
        string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null && File.Exists(folder)) throw new ArgumentException($"--output {path}: {folder} is a file, not a folder.");
    }
}
