using Microsoft.ML.Data;
using static Microsoft.ML.Circuits.Tests.MLNet.MLNetData;

namespace Microsoft.ML.Circuits.Tests.MLNet;

[TestClass]
public sealed class BadInputTests
{
    static MLContext ml = null!;
    static ProbabilisticCircuitTransformer fitted = null!;

    [ClassInitialize]
    public static void FitOnce(TestContext _)
    {
        ml = new MLContext(seed: 1);
        fitted = ml.Transforms.ProbabilisticCircuit(SmallOptions()).Fit(ml.Data.LoadFromEnumerable(Digits(MLNetData.Train, 256)));
    }

    [ClassCleanup]
    public static void Cleanup() => fitted.Dispose();

    sealed class DoubleRow { [VectorType(784)] public double[] Pixels { get; set; } = new double[784]; }
    sealed class ScalarRow { public float Pixels { get; set; } }
    sealed class ShortRow { [VectorType(783)] public float[] Pixels { get; set; } = new float[783]; }
    sealed class VariableRow { public float[] Pixels { get; set; } = new float[784]; }
    sealed class OtherNameRow { [VectorType(784)] public float[] Image { get; set; } = new float[784]; }

    static float[] Digit(Func<float[], float[]> edit) => edit(MLNetData.Test.Image(0).ToArray().Select(b => (float)b).ToArray());

    static void AssertSchemaError(IDataView data, params string[] parts)
    {
        foreach (var action in new Action[]
                 {
                     () => fitted.Transform(data),
                     () => fitted.GetOutputSchema(data.Schema),
                     () => ml.Transforms.ProbabilisticCircuit(SmallOptions()).Fit(data),
                 })
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(action);
            foreach (var part in parts) StringAssert.Contains(e.Message, part);
        }
    }

    [TestMethod]
    public void AWrongColumnTypeNamesTheColumnAndTheExpectedType()
    {
        AssertSchemaError(ml.Data.LoadFromEnumerable(new[] { new DoubleRow() }), "'Pixels'", "Single or Byte", "Double");
        AssertSchemaError(ml.Data.LoadFromEnumerable(new[] { new ScalarRow() }), "'Pixels'", "Single or Byte");
        AssertSchemaError(ml.Data.LoadFromEnumerable(new[] { new OtherNameRow() }), "'Pixels' not found", "Image");
    }

    [TestMethod]
    public void AWrongOrUnknownSizeNamesTheExpectedShape()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => fitted.Transform(ml.Data.LoadFromEnumerable(new[] { new ShortRow() })));
        StringAssert.Contains(e.Message, "28×28×1 = 784");
        StringAssert.Contains(e.Message, "'Pixels'");
        var fit = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.ProbabilisticCircuit(SmallOptions()).Fit(ml.Data.LoadFromEnumerable(new[] { new ShortRow() })));
        StringAssert.Contains(fit.Message, "783 values");
        StringAssert.Contains(Assert.Throws<ArgumentOutOfRangeException>(() => fitted.Transform(ml.Data.LoadFromEnumerable(new[] { new VariableRow() }))).Message, "784");
    }

    static InvalidDataException ValueError(float[] pixels, ProbabilisticCircuitTransformer? transformer = null)
    {
        var data = ml.Data.LoadFromEnumerable(new[] { new FlatDigit { Pixels = Digit(p => p) }, new FlatDigit { Pixels = pixels } });
        return Assert.Throws<InvalidDataException>(() => Column((transformer ?? fitted).Transform(data), "LogLikelihood"));
    }

    [TestMethod]
    public void NaNAndOffGridValuesNameTheColumnTheRowAndTheValue()
    {
        var nan = ValueError(Digit(p => { p[100] = float.NaN; return p; }));
        StringAssert.Contains(nan.Message, "'Pixels', row 1, value index 100: NaN");
        var between = ValueError(Digit(p => { p[5] = 12.5f; return p; }));
        StringAssert.Contains(between.Message, "value index 5: 12.5");
        StringAssert.Contains(between.Message, "0..255 grid");
        var large = ValueError(Digit(p => { p[7] = 300f; return p; }));
        StringAssert.Contains(large.Message, "300");
        var negative = ValueError(Digit(p => { p[8] = -1f; return p; }));
        StringAssert.Contains(negative.Message, "-1");
        var unscaled = ValueError(Digit(p => p.Select(v => v / 255f).ToArray()));
        StringAssert.Contains(unscaled.Message, "PixelScale = 255");
    }

    [TestMethod]
    public void BadValuesAlsoFailWhenFitting()
    {
        var data = ml.Data.LoadFromEnumerable(new[] { new FlatDigit { Pixels = Digit(p => { p[3] = float.NaN; return p; }) } });
        StringAssert.Contains(Assert.Throws<InvalidDataException>(() => ml.Transforms.ProbabilisticCircuit(SmallOptions()).Fit(data)).Message, "NaN");
    }

    [TestMethod]
    public void ImpossibleOptionsNameTheOption()
    {
        ProbabilisticCircuitOptions With(Action<ProbabilisticCircuitOptions> edit) { var o = SmallOptions(); edit(o); return o; }
        Assert.AreEqual("Units", Assert.Throws<ArgumentException>(() => ml.Transforms.ProbabilisticCircuit(With(o => o.Units = 0))).ParamName);
        Assert.AreEqual("Rank", Assert.Throws<ArgumentException>(() => ml.Transforms.ProbabilisticCircuit(With(o => o.Layer = LayerKind.UncollapsedCP))).ParamName);
        Assert.AreEqual("ValidationFraction", Assert.Throws<ArgumentException>(() => ml.Transforms.ProbabilisticCircuit(With(o => o.ValidationFraction = 1.5))).ParamName);
        Assert.AreEqual("PixelScale", Assert.Throws<ArgumentException>(() => ml.Transforms.ProbabilisticCircuit(With(o => o.PixelScale = 0))).ParamName);
        Assert.AreEqual("LearningRate", Assert.Throws<ArgumentException>(() => ml.Transforms.ProbabilisticCircuit(With(o => o.LearningRate = -1))).ParamName);
        Assert.AreEqual("ThresholdQuantile", Assert.Throws<ArgumentException>(() => ml.AnomalyDetection.Trainers.ProbabilisticCircuit(new ProbabilisticCircuitAnomalyOptions { ThresholdQuantile = 0 })).ParamName);
        var data = ml.Data.LoadFromEnumerable(Digits(MLNetData.Train, 100));
        if (!TorchSharp.torch.cuda.is_available()) // with CUDA present this would train on it
            StringAssert.Contains(Assert.Throws<ArgumentException>(() => ml.Transforms.ProbabilisticCircuit(With(o => o.Device = "cuda")).Fit(data)).Message, "LD_LIBRARY_PATH");
        var tiny = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 40).Select(_ => new ByteRow4()));
        var pd = ml.Transforms.ProbabilisticCircuit(With(o => o.RegionGraph = RegionGraphKind.PoonDomingos));
        StringAssert.Contains(Assert.Throws<ArgumentException>(() => pd.Fit(tiny)).Message, "too small");
    }

    sealed class ByteRow4 { [VectorType(1, 2, 2)] public byte[] Pixels { get; set; } = new byte[4]; }

    [TestMethod]
    public void AnEmptyDataViewCannotBeFitted()
    {
        var empty = ml.Data.LoadFromEnumerable(Array.Empty<FlatDigit>());
        StringAssert.Contains(Assert.Throws<ArgumentException>(() => ml.Transforms.ProbabilisticCircuit(SmallOptions()).Fit(empty)).Message, "no rows");
    }

    [TestMethod]
    public void ACorruptModelZipIsRejectedAndTheFileIsLeftAlone()
    {
        string zip = Path.Combine(TempFolder(), "model.zip");
        ml.Model.Save(fitted, ml.Data.LoadFromEnumerable(Digits(MLNetData.Test, 1)).Schema, zip);
        // Flip one byte inside the stored circuit payload: the zip stays readable, the checksum catches it.
        using (var archive = System.IO.Compression.ZipFile.Open(zip, System.IO.Compression.ZipArchiveMode.Update))
        {
            var entry = archive.Entries.Single(e => e.FullName.EndsWith("Circuit.bin"));
            byte[] bytes;
            using (var s = entry.Open()) { using var m = new MemoryStream(); s.CopyTo(m); bytes = m.ToArray(); }
            bytes[bytes.Length / 2] ^= 0x10;
            entry.Delete();
            using var w = archive.CreateEntry(entry.FullName).Open();
            w.Write(bytes);
        }
        byte[] before = File.ReadAllBytes(zip);
        var e = Assert.Throws<Exception>(() => ml.Model.Load(zip, out _));
        StringAssert.Contains(e.ToString(), "checksum");
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => CircuitModelFile.Load(ml, zip)).Message, "checksum");
        CollectionAssert.AreEqual(before, File.ReadAllBytes(zip));
    }
}
