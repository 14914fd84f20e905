using Microsoft.ML.Circuits.Tests.MLNet;
using Microsoft.ML.OnnxRuntime;

namespace Microsoft.ML.Circuits.Tests.Cli;

/// <summary><c>export-onnx</c> and <c>bench-onnx</c>, run as a separate process.</summary>
[TestClass]
public sealed class ExportOnnxCommandTests
{
    static string SaveModel(string folder)
    {
        var ml = new MLContext();
        using var transformer = ProbabilisticCircuitTransformer.FromModel(ml,
            new CircuitModel(new TensorizedCircuit(new CircuitDescription { RegionGraph = RegionGraphKind.QuadTree2, Layer = LayerKind.Tucker, Units = 2 })));
        string zip = Path.Combine(folder, "model.zip");
        CircuitModelFile.Save(ml, transformer, zip);
        return zip;
    }

    [TestMethod]
    public void ExportOnnxWritesTheModelAndChecksItWithOnnxRuntime()
    {
        string dir = MLNetData.TempFolder();
        string zip = SaveModel(dir), onnx = Path.Combine(dir, "model.onnx");
        var (code, output, error) = CliTests.Run("export-onnx", "--model-path", zip, "--output", onnx, "--shape", "flat", "--pixel-type", "uint8");
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "pixels UInt8 [N, 784]");
        StringAssert.Contains(output, "check: 64 images (mnist test)");
        using (var session = new InferenceSession(onnx))
            CollectionAssert.AreEqual(new[] { "log_likelihood", "bits_per_dimension" }, session.OutputMetadata.Keys.ToArray());

        byte[] before = File.ReadAllBytes(onnx);
        var again = CliTests.Run("export-onnx", "--model-path", zip, "--output", onnx);
        Assert.AreEqual(1, again.ExitCode);
        StringAssert.Contains(again.Error, "--overwrite");
        CollectionAssert.AreEqual(before, File.ReadAllBytes(onnx));

        var bad = CliTests.Run("export-onnx", "--model-path", zip, "--output", Path.Combine(dir, "other.onnx"), "--shape", "cube");
        Assert.AreEqual(2, bad.ExitCode);
        StringAssert.Contains(bad.Error, "--shape must be image or flat");
    }

    [TestMethod]
    public void BenchOnnxPrintsBothRuntimesAndTheirRatio()
    {
        var (code, output, error) = CliTests.Run("bench-onnx", "--rg", "QT", "--layer", "cp", "--k", "2", "--rows", "64", "--scoring-batch-size", "32", "--repeats", "1");
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "ONNX Runtime / TorchSharp");
        StringAssert.Contains(output, "| QT cp K=2 |");
    }
}
