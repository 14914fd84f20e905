using System.IO.Compression;

namespace Microsoft.ML.Circuits.Tests.MLNet;

/// <summary>The ML.NET face of the reliability review (issue 10, defect 10): binarised pixels warn; corrupt zips say why.</summary>
[TestClass]
public sealed class ReliabilityMLNetTests
{
    static ProbabilisticCircuitTransformer Untrained(MLContext context) => ProbabilisticCircuitTransformer.FromModel(context,
        new CircuitModel(new TensorizedCircuit(new CircuitDescription { ImageHeight = 28, ImageWidth = 28, RegionGraph = RegionGraphKind.QuadTree, Layer = LayerKind.CP, Units = 2 })));

    static List<string> Warnings(bool binarised)
    {
        var context = new MLContext(seed: 1);
        var messages = new List<string>();
        context.Log += (_, e) => { lock (messages) messages.Add(e.Message); };
        var digits = MLNetData.Digits(MLNetData.Test, 8);
        if (binarised) foreach (var d in digits) d.Pixels = d.Pixels.Select(p => p > 127 ? 1f : 0f).ToArray();
        using var transformer = Untrained(context);
        var scores = MLNetData.Column(transformer.Transform(context.Data.LoadFromEnumerable(digits)), "LogLikelihood");
        Assert.HasCount(8, scores);
        var engine = context.Model.CreatePredictionEngine<MLNetData.Digit, MLNetData.Scores>(transformer);
        engine.Predict(digits[0]);
        lock (messages) return messages.Where(m => m.Contains("PixelScale = 255", StringComparison.Ordinal)).ToList();
    }

    [TestMethod]
    public void BinarisedPixelsWithPixelScaleOneAreScoredWithAWarning()
    {
        var warnings = Warnings(binarised: true);
        Assert.IsNotEmpty(warnings, "no warning for 0/1 pixels read with PixelScale 1");
        StringAssert.Contains(warnings[0], "only the values 0 and 1");
        StringAssert.Contains(warnings[0], "'Pixels'");
        Assert.IsEmpty(Warnings(binarised: false), "a warning for ordinary 0..255 pixels");
    }

    /// <summary>The exception ML.NET's loader throws, and the first one in its chain that is not a reflection wrapper.</summary>
    static Exception LoadFailure(string path)
    {
        var thrown = Assert.Throws<Exception>(() => new MLContext().Model.Load(path, out _));
        Exception reason = thrown;
        while (reason is System.Reflection.TargetInvocationException && reason.InnerException is not null) reason = reason.InnerException;
        return reason;
    }

    static string SavedZip()
    {
        var context = new MLContext();
        string path = Path.Combine(MLNetData.TempFolder(), "model.zip");
        using var transformer = Untrained(context);
        CircuitModelFile.Save(context, transformer, path);
        return path;
    }

    static void Rewrite(string zip, string entrySuffix, Func<byte[], byte[]> change)
    {
        using var archive = ZipFile.Open(zip, ZipArchiveMode.Update);
        var entry = archive.Entries.Single(e => e.FullName.EndsWith(entrySuffix, StringComparison.Ordinal) && !e.FullName.StartsWith("Schema", StringComparison.Ordinal));
        byte[] bytes;
        using (var read = entry.Open())
        using (var copy = new MemoryStream())
        {
            read.CopyTo(copy);
            bytes = copy.ToArray();
        }
        string name = entry.FullName;
        entry.Delete();
        using var write = archive.CreateEntry(name).Open();
        write.Write(change(bytes));
    }

    [TestMethod]
    public void ACorruptCircuitZipLoadedThroughMLNetCarriesOurMessageInside()
    {
        // The transformer's first setting (a string id, right after ML.NET's 256-byte header) altered: ML.NET's reader fails
        // inside our loader with its own FormatException; the reason the caller sees must be ours.
        string truncated = SavedZip();
        Rewrite(truncated, "Model.key", bytes => { bytes[256] = bytes[257] = bytes[258] = 0x7f; return bytes; });
        var reason = LoadFailure(truncated);
        Assert.IsInstanceOfType<InvalidDataException>(reason, $"{reason.GetType().Name}: {reason.Message}");
        StringAssert.Contains(reason.Message, "probabilistic circuit cannot be read");

        // The circuit payload altered: the checksum names it.
        string flipped = SavedZip();
        Rewrite(flipped, "Circuit.bin", bytes => { bytes[bytes.Length / 2] ^= 0x40; return bytes; });
        var checksum = LoadFailure(flipped);
        Assert.IsInstanceOfType<InvalidDataException>(checksum, $"{checksum.GetType().Name}: {checksum.Message}");
        StringAssert.Contains(checksum.Message, "SHA-256");

        // Our own loader says the same in one message.
        var e = Assert.ThrowsExactly<InvalidDataException>(() => CircuitModelFile.Load(new MLContext(), truncated));
        StringAssert.Contains(e.Message, "probabilistic circuit cannot be read");
    }
}
