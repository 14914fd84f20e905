using Microsoft.ML.Circuits.Data;
using SkiaSharp;

namespace Microsoft.ML.Circuits.Tests.Data;

[TestClass]
public sealed class DatasetsTests
{
    static string TempFolder()
    {
        string folder = Path.Combine(Path.GetTempPath(), "circuits-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        return folder;
    }

    [TestMethod]
    public void TheBundledMnistSampleLoadsByDefaultWithAFivePercentValidationSplit()
    {
        var data = Datasets.Load("mnist");
        Assert.AreEqual(7996 - 399, data.Train.Count);
        Assert.AreEqual(399, data.Valid.Count);
        Assert.AreEqual(2004, data.Test.Count);
        Assert.AreEqual((28, 28, 1), (data.Train.Height, data.Train.Width, data.Train.Channels));
        Assert.IsTrue(data.Test.HasLabels);
        // Real digits: every label occurs, pixels span 0..255.
        Assert.AreEqual(10, Enumerable.Range(0, data.Test.Count).Select(data.Test.Label).Distinct().Count());
        Assert.AreEqual(255, Enumerable.Range(0, 100).Max(i => data.Test.Image(i).ToArray().Max()));
    }

    [TestMethod]
    public void TheValidationSplitIsDeterministic()
    {
        var all = Datasets.Load("mnist").Test;
        var (trainA, validA) = DatasetSplits.SplitValidation(all, 0.05, 42);
        var (trainB, validB) = DatasetSplits.SplitValidation(all, 0.05, 42);
        var (_, validC) = DatasetSplits.SplitValidation(all, 0.05, 7);
        Assert.AreEqual(100, validA.Count);
        Assert.AreEqual(all.Count - 100, trainA.Count);
        CollectionAssert.AreEqual(validA.Image(0).ToArray(), validB.Image(0).ToArray());
        CollectionAssert.AreEqual(Labels(validA), Labels(validB));
        CollectionAssert.AreEqual(Labels(trainA), Labels(trainB));
        CollectionAssert.AreNotEqual(Labels(validA), Labels(validC));
        CollectionAssert.AreEqual(DatasetSplits.Permutation(50, 42), DatasetSplits.Permutation(50, 42));
        CollectionAssert.AreEquivalent(Enumerable.Range(0, 50).ToArray(), DatasetSplits.Permutation(50, 42));
    }

    static int[] Labels(ImageDataset d) => Enumerable.Range(0, d.Count).Select(d.Label).ToArray();

    [TestMethod]
    public void FashionMnistLoadsFromTheDebianPackage()
    {
        if (!File.Exists(Path.Combine(Datasets.DebianFashionMnistFolder, "train-images-idx3-ubyte.gz")))
            Assert.Inconclusive("dataset-fashion-mnist is not installed (apt-get install -y dataset-fashion-mnist); .ci/run installs it.");
        var data = Datasets.Load("fashion_mnist");
        Assert.AreEqual((57000, 3000, 10000), (data.Train.Count, data.Valid.Count, data.Test.Count));
    }

    [TestMethod]
    public void AMissingFashionMnistFolderSaysHowToGetIt()
    {
        var e = Assert.ThrowsExactly<DirectoryNotFoundException>(() => Datasets.Load("fashion_mnist", "/nonexistent/fashion"));
        StringAssert.Contains(e.Message, "apt-get install -y dataset-fashion-mnist");
        StringAssert.Contains(e.Message, "--data-dir");
        string empty = TempFolder();
        var f = Assert.ThrowsExactly<FileNotFoundException>(() => Datasets.Load("fashion_mnist", empty));
        StringAssert.Contains(f.Message, "train-images-idx3-ubyte");
        Assert.ThrowsExactly<ArgumentException>(() => Datasets.Load("svhn"));
    }

    [TestMethod]
    public void ImageCountsMustMatchLabelCounts()
    {
        string folder = TempFolder();
        IdxFile.WriteImages(Path.Combine(folder, "train-images-idx3-ubyte"), 30, 2, 2, new byte[120]);
        IdxFile.WriteLabels(Path.Combine(folder, "train-labels-idx1-ubyte"), new byte[29]);
        IdxFile.WriteImages(Path.Combine(folder, "t10k-images-idx3-ubyte"), 3, 2, 2, new byte[12]);
        IdxFile.WriteLabels(Path.Combine(folder, "t10k-labels-idx1-ubyte"), new byte[3]);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => Datasets.LoadIdx("tiny", folder)).Message, "29 labels");
    }

    static void WriteImage(string path, int width, int height, Func<int, int, SKColor> color)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var bitmap = new SKBitmap(width, height);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                bitmap.SetPixel(x, y, color(x, y));
        using var image = SKImage.FromBitmap(bitmap);
        var format = path.EndsWith(".png") ? SKEncodedImageFormat.Png : SKEncodedImageFormat.Jpeg;
        using var encoded = image.Encode(format, 95);
        File.WriteAllBytes(path, encoded.ToArray());
    }

    [TestMethod]
    public void CelebAStyleFoldersAreCroppedResizedAndSplitByTheirPartitionFile()
    {
        string root = TempFolder();
        var lines = new List<string>();
        for (int i = 0; i < 6; i++)
        {
            string name = $"{i + 1:000000}.jpg";
            // 178×218 like CelebA: a red centre square inside a blue border; the 140×140 centre crop is all red.
            WriteImage(Path.Combine(root, "img_align_celeba", name), 178, 218,
                (x, y) => Math.Abs(x - 89) < 75 && Math.Abs(y - 109) < 75 ? new SKColor(250, 10, 10) : new SKColor(0, 0, 255));
            lines.Add($"{name} {(i < 3 ? 0 : i < 5 ? 1 : 2)}");
        }
        File.WriteAllLines(Path.Combine(root, "list_eval_partition.txt"), lines);
        var data = Datasets.Load("celeba", root);
        Assert.AreEqual((3, 2, 1), (data.Train.Count, data.Valid.Count, data.Test.Count));
        Assert.AreEqual((64, 64, 3), (data.Train.Height, data.Train.Width, data.Train.Channels));
        var image = data.Test.Image(0);
        // Every pixel of the crop is red (JPEG noise aside): R high, B low.
        for (int p = 0; p < 64 * 64; p++)
        {
            Assert.IsGreaterThan(200, (int)image[3 * p]);
            Assert.IsLessThan(60, (int)image[3 * p + 2]);
        }
    }

    [TestMethod]
    public void APlainImageFolderIsSplitWithTheFivePercentRule()
    {
        string root = TempFolder();
        for (int i = 0; i < 40; i++)
            WriteImage(Path.Combine(root, $"img{i:00}.png"), 20, 30, (x, y) => new SKColor((byte)(i * 6), (byte)x, (byte)y));
        var options = new ImageFolderOptions { CropSize = 16, Size = 8, Channels = 1 };
        var data = ImageFolder.Load("faces", root, options);
        Assert.AreEqual((36, 2, 2), (data.Train.Count, data.Valid.Count, data.Test.Count));
        Assert.AreEqual((8, 8, 1), (data.Train.Height, data.Train.Width, data.Train.Channels));
    }

    [TestMethod]
    public void AnUndecodableImageIsReportedByName()
    {
        string root = TempFolder();
        for (int i = 0; i < 40; i++)
            WriteImage(Path.Combine(root, $"img{i:00}.png"), 8, 8, (x, y) => SKColors.White);
        File.WriteAllBytes(Path.Combine(root, "img05.png"), [1, 2, 3]);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ImageFolder.Load("bad", root, new ImageFolderOptions { CropSize = null, Size = 4 }));
        StringAssert.Contains(e.Message, "img05.png");
    }

    [TestMethod]
    [DataRow("png")]
    [DataRow("jpg")]
    public void ATruncatedImageIsAnErrorNamingTheFileNotBlackPixels(string extension)
    {
        string root = TempFolder();
        string path = Path.Combine(root, $"noise.{extension}");
        var random = new Random(3);
        WriteImage(path, 64, 64, (x, y) => new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256)));
        var options = new ImageFolderOptions { CropSize = null, Size = 8, Channels = 3 };
        var complete = new byte[8 * 8 * 3];
        ImageFolder.DecodeOne(path, options, complete);
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ImageFolder.DecodeOne(path, options, new byte[8 * 8 * 3]));
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, "truncated");
    }

    [TestMethod]
    public void AFileGivenAsTheDataFolderIsNamedAsAFile()
    {
        string file = Path.Combine(TempFolder(), "data.bin");
        File.WriteAllText(file, "x");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => Datasets.Load("mnist", file)).Message, "is a file; expected a folder");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => Datasets.Load("celeba", file)).Message, "is a file; expected a folder");
    }
}
