using SkiaSharp;

namespace Microsoft.ML.Circuits.Data;

/// <summary>
/// Loads a folder of images (CelebA or any other) with SkiaSharp: each image is centre-cropped to
/// <see cref="ImageFolderOptions.CropSize"/>², resized to <see cref="ImageFolderOptions.Size"/>² with high-quality
/// filtering and stored as RGB (C = 3, one variable per pixel) or grayscale bytes.
/// Splits: CelebA's <c>list_eval_partition.txt</c> (0 train, 1 valid, 2 test) when present; else <c>train/</c> and
/// <c>test/</c> subfolders with 5 % of train held out for validation; else every image, with seeded 5 % held out for
/// validation and another 5 % for test.
/// </summary>
public static class ImageFolder
{
    static readonly string[] Extensions = [".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"];

    /// <summary>Loads <paramref name="folder"/> as described above.</summary>
    public static DatasetSplits Load(string name, string folder, ImageFolderOptions options,
        double validationFraction = DatasetSplits.DefaultValidationFraction, int seed = DatasetSplits.DefaultSplitSeed)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Size < 2) throw new ArgumentOutOfRangeException(nameof(options), options.Size, "The image size must be at least 2.");
        if (options.CropSize is < 1) throw new ArgumentOutOfRangeException(nameof(options), options.CropSize, "The crop size must be positive.");
        if (options.Channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(options), options.Channels, "Channels must be 1 or 3.");
        if (File.Exists(folder))
            throw new ArgumentException($"The image folder '{folder}' is a file; expected a folder of images (or one with img_align_celeba/ and list_eval_partition.txt).", nameof(folder));
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"The image folder '{folder}' does not exist.");

        string? partitionFile = new[] { Path.Combine(folder, "list_eval_partition.txt"), Path.Combine(folder, "celeba", "list_eval_partition.txt") }
            .FirstOrDefault(File.Exists);
        if (partitionFile is not null)
        {
            string imageRoot = new[] { Path.Combine(Path.GetDirectoryName(partitionFile)!, "img_align_celeba"), Path.GetDirectoryName(partitionFile)! }
                .First(Directory.Exists);
            var parts = ReadPartitions(partitionFile);
            ImageDataset Split(int id, string split) =>
                Decode($"{name}/{split}", parts.Where(p => p.Split == id).Select(p => Path.Combine(imageRoot, p.File)).ToList(), options);
            return new DatasetSplits(name, Split(0, "train"), Split(1, "valid"), Split(2, "test"));
        }

        string trainFolder = Path.Combine(folder, "train"), testFolder = Path.Combine(folder, "test");
        if (Directory.Exists(trainFolder) && Directory.Exists(testFolder))
        {
            var train = Decode($"{name}/train", ListImages(trainFolder), options);
            var (training, valid) = DatasetSplits.SplitValidation(train, validationFraction, seed);
            return new DatasetSplits(name, training, valid, Decode($"{name}/test", ListImages(testFolder), options));
        }

        var all = ListImages(folder);
        var order = DatasetSplits.Permutation(all.Count, seed);
        int held = (int)(validationFraction * all.Count);
        if (held < 1 || 2 * held >= all.Count)
            throw new InvalidDataException($"{folder} has {all.Count} images: too few to hold out {validationFraction:P0} for validation and for test.");
        List<string> Pick(IEnumerable<int> indices) => indices.Select(i => all[i]).ToList();
        return new DatasetSplits(name,
            Decode($"{name}/train", Pick(order[..^(2 * held)]), options),
            Decode($"{name}/valid", Pick(order[^(2 * held)..^held]), options),
            Decode($"{name}/test", Pick(order[^held..]), options));
    }

    static List<(string File, int Split)> ReadPartitions(string path)
    {
        var result = new List<(string, int)>();
        int line = 0;
        foreach (string text in File.ReadLines(path))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            var fields = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length != 2 || !int.TryParse(fields[1], out int split) || split is < 0 or > 2)
                throw new InvalidDataException($"{path}:{line}: expected '<image file> <0|1|2>', got '{text}'.");
            result.Add((fields[0], split));
        }
        return result;
    }

    static List<string> ListImages(string folder)
    {
        var files = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new InvalidDataException($"{folder} holds no images ({string.Join(", ", Extensions)}).");
        return files;
    }

    /// <summary>Decodes, crops and resizes <paramref name="files"/> in parallel.</summary>
    public static ImageDataset Decode(string name, IReadOnlyList<string> files, ImageFolderOptions options)
    {
        if (options.Limit is { } limit) files = files.Take(limit).ToList();
        if (files.Count == 0) throw new InvalidDataException($"{name}: no images.");
        int size = options.Size, channels = options.Channels, imageSize = size * size * channels;
        var pixels = new byte[(long)files.Count * imageSize];
        try
        {
            Parallel.For(0, files.Count, i => DecodeOne(files[i], options, pixels.AsSpan(i * imageSize, imageSize)));
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            // Report the first failing image as the exception it raised, not as a parallel-loop wrapper.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
            throw;
        }
        return new ImageDataset(size, size, channels, pixels, null, name);
    }

    /// <summary>Decodes one image into <paramref name="destination"/> (Size·Size·Channels bytes).</summary>
    public static void DecodeOne(string file, ImageFolderOptions options, Span<byte> destination)
    {
        if (!File.Exists(file)) throw new FileNotFoundException($"Image not found: {file}", file);
        using var source = DecodeComplete(file);
        int crop = Math.Min(options.CropSize ?? int.MaxValue, Math.Min(source.Width, source.Height));
        int cropWidth = options.CropSize is null ? source.Width : crop, cropHeight = options.CropSize is null ? source.Height : crop;
        // Centre crop as torchvision does: offsets round((H − h) / 2), round((W − w) / 2).
        int top = (int)Math.Round((source.Height - cropHeight) / 2.0), left = (int)Math.Round((source.Width - cropWidth) / 2.0);
        using var cropped = new SKBitmap(new SKImageInfo(cropWidth, cropHeight, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        if (!source.ExtractSubset(cropped, new SKRectI(left, top, left + cropWidth, top + cropHeight)))
            throw new InvalidDataException($"{file}: cannot crop {cropWidth}×{cropHeight} at ({left}, {top}).");
        using var converted = cropped.Copy(SKColorType.Rgba8888) ?? throw new InvalidDataException($"{file}: cannot convert to RGBA.");
        using var resized = new SKBitmap(new SKImageInfo(options.Size, options.Size, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        if (!converted.ScalePixels(resized, SKFilterQuality.High))
            throw new InvalidDataException($"{file}: cannot resize to {options.Size}×{options.Size}.");
        var rgba = resized.GetPixelSpan();
        int pixelsCount = options.Size * options.Size;
        for (int p = 0; p < pixelsCount; p++)
        {
            byte r = rgba[4 * p], g = rgba[4 * p + 1], b = rgba[4 * p + 2];
            if (options.Channels == 3)
            {
                destination[3 * p] = r; destination[3 * p + 1] = g; destination[3 * p + 2] = b;
            }
            else
            {
                // ITU-R 601 luma, as PIL's convert('L').
                destination[p] = (byte)Math.Clamp((int)Math.Round(0.299 * r + 0.587 * g + 0.114 * b), 0, 255);
            }
        }
    }

    /// <summary>
    /// Decodes <paramref name="file"/> as <see cref="SKBitmap.Decode(string)"/> does (premultiplied alpha, no colour space),
    /// but refuses an incomplete decode: SkiaSharp returns a truncated PNG or JPEG with its missing rows filled in,
    /// which would silently train on black pixels.
    /// </summary>
    static SKBitmap DecodeComplete(string file)
    {
        using var codec = SKCodec.Create(file, out var opened)
            ?? throw new InvalidDataException($"{file}: not a decodable image ({Describe(opened)}).");
        var info = codec.Info;
        if (info.AlphaType == SKAlphaType.Unpremul) info.AlphaType = SKAlphaType.Premul;
        info.ColorSpace = null;
        if (info.Width < 1 || info.Height < 1)
            throw new InvalidDataException($"{file}: the image is {info.Width}×{info.Height} pixels.");
        var bitmap = new SKBitmap(info);
        var result = codec.GetPixels(info, bitmap.GetPixels());
        if (result != SKCodecResult.Success)
        {
            bitmap.Dispose();
            throw new InvalidDataException($"{file}: {Describe(result)}; the image was not used.");
        }
        return bitmap;
    }

    static string Describe(SKCodecResult result) => result switch
    {
        SKCodecResult.IncompleteInput => "the file is truncated (the image data ends early)",
        SKCodecResult.ErrorInInput => "the image data is corrupt",
        SKCodecResult.Unimplemented => "an image format or variant SkiaSharp cannot decode",
        _ => $"decoding failed ({result})",
    };
}
