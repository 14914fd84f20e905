using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Data;

/// <summary>Train, validation and test images of one dataset.</summary>
/// <param name="Name">The dataset's name (e.g. <c>mnist</c>).</param>
/// <param name="Train">Training images (validation images removed).</param>
/// <param name="Valid">Validation images.</param>
/// <param name="Test">Test images (the official test split).</param>
public sealed record DatasetSplits(string Name, ImageDataset Train, ImageDataset Valid, ImageDataset Test)
{
    /// <summary>The validation fraction of the paper: 5 % of the training images.</summary>
    public const double DefaultValidationFraction = 0.05;

    /// <summary>The seed of the paper's validation split.</summary>
    public const int DefaultSplitSeed = 42;

    /// <summary>
    /// Splits <paramref name="train"/> into training and validation images: a permutation is drawn with
    /// <c>torch.randperm</c> from a CPU generator seeded with <paramref name="seed"/>; the last
    /// int(fraction·N) images of it are the validation set (as <c>random_split(train, [N − n, n])</c> does).
    /// Deterministic for a given seed.
    /// </summary>
    public static (ImageDataset Train, ImageDataset Valid) SplitValidation(ImageDataset train, double fraction = DefaultValidationFraction, int seed = DefaultSplitSeed)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (!(fraction > 0 && fraction < 1))
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "The validation fraction must lie strictly between 0 and 1.");
        int valid = (int)(fraction * train.Count);
        if (valid < 1 || valid >= train.Count)
            throw new ArgumentException($"A validation fraction of {fraction} of {train.Count} images leaves an empty training or validation set.", nameof(fraction));
        var order = Permutation(train.Count, seed);
        return (train.Subset(order[..^valid], train.Name), train.Subset(order[^valid..], ValidName(train.Name)));
    }

    static string ValidName(string name) => name.EndsWith("/train", StringComparison.Ordinal) ? name[..^6] + "/valid" : name + "/valid";

    /// <summary>A permutation of 0..n−1 from <c>torch.randperm</c> with a CPU generator seeded <paramref name="seed"/>.</summary>
    public static int[] Permutation(int n, long seed)
    {
        using var generator = new Generator((ulong)seed, torch.CPU);
        using var permutation = torch.randperm(n, ScalarType.Int64, generator: generator);
        return permutation.data<long>().Select(i => (int)i).ToArray();
    }
}
