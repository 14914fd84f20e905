using System.IO.Compression;
using Microsoft.ML.Circuits.Data;

namespace Microsoft.ML.Circuits.Tests.Data;

[TestClass]
public sealed class IdxFileTests
{
    public TestContext TestContext { get; set; } = null!;

    string Temp(string name)
    {
        string folder = Path.Combine(Path.GetTempPath(), "circuits-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        return Path.Combine(folder, name);
    }

    [TestMethod]
    [DataRow("images.idx")]
    [DataRow("images.idx.gz")]
    public void ImagesAndLabelsRoundTrip(string name)
    {
        var pixels = Enumerable.Range(0, 3 * 4 * 5).Select(i => (byte)(i * 7)).ToArray();
        string images = Temp(name), labels = Temp("labels" + Path.GetExtension(name));
        IdxFile.WriteImages(images, 3, 4, 5, pixels);
        IdxFile.WriteLabels(labels, [1, 2, 9]);
        var (count, rows, columns, read) = IdxFile.ReadImages(images);
        Assert.AreEqual((3, 4, 5), (count, rows, columns));
        CollectionAssert.AreEqual(pixels, read);
        CollectionAssert.AreEqual(new byte[] { 1, 2, 9 }, IdxFile.ReadLabels(labels));
    }

    [TestMethod]
    public void ABadMagicNumberIsRejectedNamingTheFile()
    {
        string labels = Temp("labels.idx");
        IdxFile.WriteLabels(labels, new byte[20]);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => IdxFile.ReadImages(labels));
        StringAssert.Contains(e.Message, labels);
        StringAssert.Contains(e.Message, "bad magic number 2049");
    }

    [TestMethod]
    public void ATruncatedFileIsRejectedSayingWhatIsMissing()
    {
        string images = Temp("images.idx");
        IdxFile.WriteImages(images, 2, 28, 28, new byte[2 * 784]);
        var bytes = File.ReadAllBytes(images);
        File.WriteAllBytes(images, bytes[..^100]);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => IdxFile.ReadImages(images));
        StringAssert.Contains(e.Message, images);
        StringAssert.Contains(e.Message, "truncated");
        StringAssert.Contains(e.Message, "1568 bytes");

        File.WriteAllBytes(images, bytes[..6]);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => IdxFile.ReadImages(images)).Message, "truncated header");
    }

    [TestMethod]
    public void ATruncatedGzipStreamIsRejected()
    {
        string images = Temp("images.idx.gz");
        var noise = new byte[5000];
        new Random(1).NextBytes(noise);
        IdxFile.WriteImages(images, 5, 10, 100, noise);
        var bytes = File.ReadAllBytes(images);
        File.WriteAllBytes(images, bytes[..(bytes.Length / 2)]);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => IdxFile.ReadImages(images));
        StringAssert.Contains(e.Message, images);
    }

    [TestMethod]
    public void ExtraBytesAfterTheDataAreRejected()
    {
        string labels = Temp("labels.idx");
        IdxFile.WriteLabels(labels, [1, 2]);
        File.AppendAllText(labels, "x");
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => IdxFile.ReadLabels(labels)).Message, "unexpected bytes");
    }

    [TestMethod]
    public void TheBundledSampleIsGzippedIdx()
    {
        string file = Path.Combine(Datasets.BundledMnistPath(), "t10k-images-idx3-ubyte.gz");
        using (var gz = new GZipStream(File.OpenRead(file), CompressionMode.Decompress))
            Assert.AreEqual(0, gz.ReadByte());
        Assert.AreEqual(2004, IdxFile.ReadImages(file).Count);
    }

    [TestMethod]
    [DataRow("images.idx")]
    [DataRow("images.idx.gz")]
    public void AHeaderWhoseSizeOverflowsIsRejectedNamingTheFileAndTheDimension(string name)
    {
        // 16 images of 2^30 × 2^30 pixels: the product wraps around to 0 in 64 bits, so an unchecked size matched the empty body.
        string images = Temp(name);
        byte[] header = [0, 0, 8, 3, 0, 0, 0, 0x10, 0x40, 0, 0, 0, 0x40, 0, 0, 0];
        if (name.EndsWith(".gz", StringComparison.Ordinal))
        {
            using var file = File.Create(images);
            using var gzip = new GZipStream(file, CompressionLevel.Fastest);
            gzip.Write(header);
        }
        else File.WriteAllBytes(images, header);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => IdxFile.ReadImages(images));
        StringAssert.Contains(e.Message, images);
        StringAssert.Contains(e.Message, "16×1073741824×1073741824");
        StringAssert.Contains(e.Message, "dimension 1 = 1073741824");
    }

    [TestMethod]
    public void ImagesWithoutPixelsAreRejectedNamingTheFile()
    {
        string images = Temp("images.idx");
        IdxFile.WriteImages(images, 16, 0, 0, []);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => IdxFile.ReadImages(images));
        StringAssert.Contains(e.Message, images);
        StringAssert.Contains(e.Message, "0×0 pixels");
    }

    [TestMethod]
    public void AGzipFileAnnouncingMoreThanItHoldsIsRejectedWithoutAllocatingTheAnnouncedSize()
    {
        // The header announces 0x7fff0000 bytes of labels; ten follow. Reading must stop at the data present.
        string labels = Temp("labels.idx.gz");
        using (var file = File.Create(labels))
        using (var gzip = new GZipStream(file, CompressionLevel.Fastest))
            gzip.Write([0, 0, 8, 1, 0x7f, 0xff, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.ThrowsExactly<InvalidDataException>(() => IdxFile.ReadLabels(labels));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        StringAssert.Contains(e.Message, "truncated");
        Assert.IsLessThan(16L << 20, allocated, $"{allocated:N0} bytes allocated to read an 18-byte body");
    }
}
