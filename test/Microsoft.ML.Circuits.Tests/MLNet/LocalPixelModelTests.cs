using Microsoft.ML.Circuits.Data;

namespace Microsoft.ML.Circuits.Tests.MLNet;

[TestClass]
public sealed class LocalPixelModelTests
{
    [TestMethod]
    public void EachValueIsCodedWithHalfTheContextModelPlusHalfTheHistogramCountedByHand()
    {
        // Two 2×3 images with 4 categories: every level is 2·value (8 levels over 4 values), neighbours outside are 0.
        byte[] first = [0, 1, 3, 2, 2, 0], second = [3, 3, 1, 0, 1, 2];
        var images = new ImageDataset(2, 3, 1, [.. first, .. second]);
        var model = LocalPixelModel.Fit(images, categories: 4);

        // The (context, value) pairs and the value counts, by coordinates.
        var contextCounts = new Dictionary<(int, int, int), int[]>();
        var valueCounts = new int[4];
        IEnumerable<((int, int, int) Context, int Value)> Pairs(byte[] image)
        {
            int At(int y, int x) => y < 0 || x < 0 ? 0 : image[y * 3 + x];
            for (int y = 0; y < 2; y++)
                for (int x = 0; x < 3; x++)
                    yield return ((At(y, x - 1) * 2, At(y - 1, x) * 2, At(y - 1, x - 1) * 2), image[y * 3 + x]);
        }
        foreach (var image in new[] { first, second })
            foreach (var (context, value) in Pairs(image))
            {
                if (!contextCounts.TryGetValue(context, out var counts)) contextCounts[context] = counts = new int[4];
                counts[value]++;
                valueCounts[value]++;
            }
        double Expected(byte[] image) => Pairs(image).Sum(p =>
        {
            var counts = contextCounts.GetValueOrDefault(p.Context, new int[4]);
            double context = (counts[p.Value] + 0.5) / (counts.Sum() + 2.0);
            double histogram = (valueCounts[p.Value] + 0.5) / (12 + 2.0);
            return Math.Log(0.5 * context + 0.5 * histogram);
        });
        Assert.AreEqual(Expected(first), model.LogLikelihood(first), 1e-5);
        Assert.AreEqual(Expected(second), model.LogLikelihood(second), 1e-5);
        byte[] unseen = [1, 1, 1, 1, 1, 1];
        Assert.AreEqual(Expected(unseen), model.LogLikelihood(unseen), 1e-5);
        Assert.AreEqual(4, model.Categories);
        // A proper distribution: the probabilities of every 2×3 image over 4 values sum to 1.
        double total = 0;
        var every = new byte[6];
        for (int n = 0; n < 4096; n++)
        {
            for (int j = 0, rest = n; j < 6; j++, rest /= 4) every[j] = (byte)(rest % 4);
            total += Math.Exp(model.LogLikelihood(every));
        }
        Assert.AreEqual(1.0, total, 1e-5);
        Assert.AreEqual(-model.LogLikelihood(first) / (Math.Log(2) * 6), model.BitsPerDimension(first), 1e-12);
    }

    [TestMethod]
    public void ItKnowsNothingOfWhereThingsAre()
    {
        // A digit moved one pixel down and right (inside a blank margin of two) has the same local statistics, so the
        // same score; the position-dependent pixel background of LikelihoodRatio tells the two apart.
        var digits = MLNetData.Train;
        var model = LocalPixelModel.Fit(digits);
        var pixelModel = PixelBackgroundModel.Fit(digits);
        int tested = 0;
        for (int i = 0; tested < 20; i++)
        {
            var image = digits.Image(i);
            bool margin = true;
            for (int y = 0; y < 28 && margin; y++)
                for (int x = 0; x < 28; x++)
                    if ((y < 2 || x < 2 || y >= 26 || x >= 26) && image[y * 28 + x] != 0) { margin = false; break; }
            if (!margin) continue;
            var moved = new byte[784];
            for (int y = 0; y < 27; y++)
                for (int x = 0; x < 27; x++)
                    moved[(y + 1) * 28 + x + 1] = image[y * 28 + x];
            Assert.AreEqual(model.LogLikelihood(image), model.LogLikelihood(moved), 1e-6, $"digit {i}");
            Assert.AreNotEqual(pixelModel.LogLikelihood(image), pixelModel.LogLikelihood(moved), 1.0, $"digit {i}");
            tested++;
        }
    }

    [TestMethod]
    public void EachChannelIsItsOwnModelOverItsOwnNeighbours()
    {
        // A 2-channel dataset scores exactly as the two channels fitted and scored as separate 1-channel datasets.
        var random = new Random(5);
        int count = 40, size = 5 * 4;
        var pixels = new byte[count * size * 2];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(random.Next(4) * 60 + (i % 2) * 10);
        var both = new ImageDataset(5, 4, 2, pixels);
        ImageDataset Channel(int c) => new(5, 4, 1, Enumerable.Range(0, pixels.Length / 2).Select(j => pixels[j * 2 + c]).ToArray());
        var model = LocalPixelModel.Fit(both);
        var (red, green) = (LocalPixelModel.Fit(Channel(0)), LocalPixelModel.Fit(Channel(1)));
        for (int i = 0; i < count; i++)
            Assert.AreEqual(red.LogLikelihood(Channel(0).Image(i)) + green.LogLikelihood(Channel(1).Image(i)), model.LogLikelihood(both.Image(i)), 1e-4, $"image {i}");
    }

    [TestMethod]
    public void ASavedModelLoadsAndCorruptOnesAreRefused()
    {
        var model = LocalPixelModel.Fit(MLNetData.Train.Subset(Enumerable.Range(0, 50).ToArray()));
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true)) model.Save(writer);
        byte[] saved = stream.ToArray();
        LocalPixelModel Load(byte[] bytes) => LocalPixelModel.Load(new BinaryReader(new MemoryStream(bytes)), "test");
        var loaded = Load(saved);
        for (int i = 0; i < 5; i++)
            Assert.AreEqual(model.LogLikelihood(MLNetData.Test.Image(i)), loaded.LogLikelihood(MLNetData.Test.Image(i)));

        var levels = (byte[])saved.Clone();
        BitConverter.GetBytes(4).CopyTo(levels, 20);   // version, height, width, channels, categories, then the levels
        StringAssert.Contains(Assert.Throws<InvalidDataException>(() => Load(levels)).Message, "context levels");
        var nan = (byte[])saved.Clone();
        BitConverter.GetBytes(float.NaN).CopyTo(nan, 24 + 4 * 1000);
        StringAssert.Contains(Assert.Throws<InvalidDataException>(() => Load(nan)).Message, "entry 1000");
        var version = (byte[])saved.Clone();
        BitConverter.GetBytes(2).CopyTo(version, 0);
        StringAssert.Contains(Assert.Throws<InvalidDataException>(() => Load(version)).Message, "format 2");
        Assert.Throws<EndOfStreamException>(() => Load(saved[..(saved.Length / 2)]));
    }

    [TestMethod]
    public void ASavedBackgroundModelLoadsAndACorruptTableIsRefused()
    {
        // The likelihood-ratio background shares the table format: a value that is not a log-probability is refused.
        var model = PixelBackgroundModel.Fit(MLNetData.Train.Subset(Enumerable.Range(0, 50).ToArray()));
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true)) model.Save(writer);
        byte[] saved = stream.ToArray();
        PixelBackgroundModel Load(byte[] bytes) => PixelBackgroundModel.Load(new BinaryReader(new MemoryStream(bytes)), "test");
        var loaded = Load(saved);
        for (int i = 0; i < 5; i++)
            Assert.AreEqual(model.LogLikelihood(MLNetData.Test.Image(i)), loaded.LogLikelihood(MLNetData.Test.Image(i)));
        const int table = 20 + 8;   // version, height, width, channels, categories, then the mutation rate
        foreach (float bad in new[] { float.NaN, 0.5f, float.NegativeInfinity })
        {
            var corrupt = (byte[])saved.Clone();
            BitConverter.GetBytes(bad).CopyTo(corrupt, table + 4 * 777);
            StringAssert.Contains(Assert.Throws<InvalidDataException>(() => Load(corrupt)).Message, "entry 777");
        }
    }

    [TestMethod]
    public void BadInputIsRefusedWithWhatIsAllowed()
    {
        var images = new ImageDataset(2, 2, 1, [0, 1, 2, 3]);
        StringAssert.Contains(Assert.Throws<ArgumentException>(() => LocalPixelModel.Fit(images, categories: 3)).Message, "outside 0..2");
        Assert.Throws<ArgumentOutOfRangeException>(() => LocalPixelModel.Fit(images, categories: 1));
        Assert.Throws<ArgumentException>(() => LocalPixelModel.Fit(new ImageDataset(2, 2, 1, [])));
        var model = LocalPixelModel.Fit(images, categories: 4);
        StringAssert.Contains(Assert.Throws<ArgumentException>(() => model.LogLikelihood(new byte[5])).Message, "2×2×1 = 4");
        StringAssert.Contains(Assert.Throws<ArgumentException>(() => model.LogLikelihood(new byte[] { 0, 0, 9, 0 })).Message, "outside 0..3");
    }
}
