using System.Reflection;
using Microsoft.ML.Circuits.Tests.MLNet;

namespace Microsoft.ML.Circuits.Tests.Onnx;

/// <summary>
/// The ONNX examples score an exported circuit as separate processes: <c>OnnxScoring</c> with ONNX Runtime alone (its
/// output folder holds no TorchSharp or libtorch file) and <c>OnnxMLNet</c> through ML.NET's <c>ApplyOnnxModel</c>.
/// </summary>
[TestClass]
public sealed class OnnxExamplesTests
{
    static string Example(string key) => typeof(OnnxExamplesTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;

    static (int ExitCode, string Output, string Error) Run(string dll, params string[] args) => Cli.CliTests.RunDll(dll, args);

    static string ExportSmallModel(out double meanLogLikelihood)
    {
        using var circuit = new TensorizedCircuit(new CircuitDescription { RegionGraph = RegionGraphKind.QuadGraph, Layer = LayerKind.CP, Units = 2 });
        var images = MLNetData.Test.Subset([.. Enumerable.Range(0, 100)]);
        meanLogLikelihood = OnnxExportTests.TorchSharpLogLikelihoods(circuit, images).Average();
        string path = Path.Combine(MLNetData.TempFolder(), "model.onnx");
        circuit.ExportToOnnx(path);
        return path;
    }

    [TestMethod]
    public void OnnxScoringRunsWithOnnxRuntimeAloneAndCarriesNoTorchSharp()
    {
        string dll = Example("OnnxScoringExample");
        var torch = Directory.EnumerateFiles(Path.GetDirectoryName(dll)!, "*", SearchOption.AllDirectories)
            .Where(f => Path.GetFileName(f).Contains("torch", StringComparison.OrdinalIgnoreCase)).ToList();
        Assert.IsEmpty(torch, $"the ONNX-only example's output holds {string.Join(", ", torch)}");
        string model = ExportSmallModel(out _);
        var (code, output, error) = Run(dll, model);
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "2004 images: mean log-likelihood");
    }

    [TestMethod]
    public void OnnxMLNetScoresTheModelWithApplyOnnxModel()
    {
        string dll = Example("OnnxMLNetExample");
        string model = ExportSmallModel(out double expected);
        var (code, output, error) = Run(dll, model, Path.Combine(AppContext.BaseDirectory, "data", "mnist-10k", "t10k-images-idx3-ubyte.gz"), "100");
        Assert.AreEqual(0, code, error);
        var line = output.Split('\n').Single(l => l.Contains("images through ApplyOnnxModel"));
        double mean = double.Parse(line.Split("mean log-likelihood ")[1].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.AreEqual(expected, mean, 1e-4 * Math.Abs(expected) + 0.01, line);
    }
}
