namespace Microsoft.ML.Circuits.Data;

/// <summary>
/// Loads the datasets of the paper by name: <c>mnist</c>, <c>fashion_mnist</c> (four standard IDX files in a
/// folder) and <c>celeba</c> (or any folder of images, see <see cref="ImageFolder"/>). The validation set is
/// 5 % of the training images drawn with seed 42 (<see cref="DatasetSplits.SplitValidation"/>); the test set is
/// the official test split.
/// </summary>
public static class Datasets
{
    /// <summary>
    /// The folder of the 10,000-digit MNIST sample, relative to the application folder. The <c>circuits</c> tool and
    /// this repository's examples and tests carry it; the library packages do not copy it into an application's output.
    /// </summary>
    public const string BundledMnistFolder = "data/mnist-10k";

    /// <summary>Where Debian's <c>dataset-fashion-mnist</c> package puts Fashion-MNIST.</summary>
    public const string DebianFashionMnistFolder = "/usr/share/datasets/fashion-mnist";

    /// <summary>The dataset names <see cref="Load"/> accepts.</summary>
    public static IReadOnlyList<string> Names { get; } = ["mnist", "fashion_mnist", "celeba"];

    /// <summary>Loads a dataset by name from <paramref name="folder"/> (or its default folder).</summary>
    /// <param name="name"><c>mnist</c> (default folder: the bundled 10,000-digit sample), <c>fashion_mnist</c>
    /// (default: <see cref="DebianFashionMnistFolder"/>) or <c>celeba</c> (a folder is required).</param>
    /// <param name="folder">The data folder, or null for the default.</param>
    /// <param name="validationFraction">Fraction of the training images held out for validation when the dataset has no official validation split.</param>
    /// <param name="seed">Seed of that split.</param>
    /// <param name="imageOptions">Decoding options for image folders.</param>
    public static DatasetSplits Load(string name, string? folder = null, double validationFraction = DatasetSplits.DefaultValidationFraction,
        int seed = DatasetSplits.DefaultSplitSeed, ImageFolderOptions? imageOptions = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        switch (Normalize(name))
        {
            case "mnist":
                return LoadIdx("mnist", folder ?? BundledMnistPath(), validationFraction, seed,
                    "without a folder, mnist means the 10,000-digit sample in data/mnist-10k next to the program, which the circuits tool " +
                    "and this repository's programs carry but the library packages do not; otherwise pass a folder holding the four MNIST IDX files " +
                    "(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz)");
            case "fashion_mnist":
                return LoadIdx("fashion_mnist", folder ?? DebianFashionMnistFolder, validationFraction, seed,
                    $"install it with 'sudo apt-get install -y dataset-fashion-mnist' (Debian/Ubuntu; it goes to {DebianFashionMnistFolder}) " +
                    "or pass the folder holding the four Fashion-MNIST IDX files with --data-dir");
            case "celeba":
                if (folder is null)
                    throw new ArgumentException("CelebA has no default folder: pass the folder holding img_align_celeba/ (and list_eval_partition.txt), or any folder of images, with --data-dir.", nameof(folder));
                return ImageFolder.Load("celeba", folder, imageOptions ?? new ImageFolderOptions(), validationFraction, seed);
            default:
                throw new ArgumentException($"Unknown dataset '{name}'; expected one of: {string.Join(", ", Names)}.", nameof(name));
        }
    }

    /// <summary>The canonical name: <c>fashion-mnist</c> and <c>FashionMNIST</c> become <c>fashion_mnist</c>.</summary>
    public static string Normalize(string name) => name.ToLowerInvariant().Replace('-', '_') switch
    {
        "fashionmnist" => "fashion_mnist",
        var n => n,
    };

    /// <summary>The MNIST sample's folder next to the running program (present where the program carries it).</summary>
    public static string BundledMnistPath() => Path.Combine(AppContext.BaseDirectory, BundledMnistFolder);

    /// <summary>
    /// Loads the four standard IDX files (<c>train-images-idx3-ubyte</c>, <c>train-labels-idx1-ubyte</c>,
    /// <c>t10k-images-idx3-ubyte</c>, <c>t10k-labels-idx1-ubyte</c>, each optionally <c>.gz</c>) from a folder.
    /// </summary>
    public static DatasetSplits LoadIdx(string name, string folder, double validationFraction = DatasetSplits.DefaultValidationFraction,
        int seed = DatasetSplits.DefaultSplitSeed, string? howToGetIt = null)
    {
        if (File.Exists(folder))
            throw new ArgumentException($"The {name} data folder '{folder}' is a file; expected a folder holding the four IDX files (train-images-idx3-ubyte[.gz], ...).", nameof(folder));
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"The {name} folder '{folder}' does not exist" + (howToGetIt is null ? "." : $"; {howToGetIt}."));
        var train = ReadIdxPair(name + "/train", folder, "train", howToGetIt);
        var test = ReadIdxPair(name + "/test", folder, "t10k", howToGetIt);
        if (train.Height != test.Height || train.Width != test.Width)
            throw new InvalidDataException($"{folder}: training images are {train.Height}×{train.Width} but test images are {test.Height}×{test.Width}.");
        var (training, valid) = DatasetSplits.SplitValidation(train, validationFraction, seed);
        return new DatasetSplits(name, training, valid, test);
    }

    static ImageDataset ReadIdxPair(string name, string folder, string prefix, string? howToGetIt)
    {
        string images = Find(folder, $"{prefix}-images-idx3-ubyte", howToGetIt);
        string labels = Find(folder, $"{prefix}-labels-idx1-ubyte", howToGetIt);
        var (count, rows, columns, pixels) = IdxFile.ReadImages(images);
        byte[] labelBytes = IdxFile.ReadLabels(labels);
        if (labelBytes.Length != count)
            throw new InvalidDataException($"{labels} has {labelBytes.Length} labels but {images} has {count} images.");
        if (count == 0)
            throw new InvalidDataException($"{images} holds no images.");
        return new ImageDataset(rows, columns, 1, pixels, labelBytes.Select(b => (int)b).ToArray(), name);
    }

    static string Find(string folder, string stem, string? howToGetIt)
    {
        foreach (string candidate in new[] { stem, stem + ".gz" })
        {
            string path = Path.Combine(folder, candidate);
            if (File.Exists(path)) return path;
        }
        throw new FileNotFoundException($"{folder} has no {stem} or {stem}.gz" + (howToGetIt is null ? "." : $"; {howToGetIt}."));
    }
}
