using System.Reflection;
using Microsoft.ML.Circuits.Data;

namespace Microsoft.ML.Circuits.Tests.Architecture;

/// <summary>
/// The direction of dependencies is a compiler rule: the engine needs only TorchSharp, data loading adds SkiaSharp,
/// and only the ML.NET assembly is compiled against ML.NET. The ONNX exporter lives in the engine and writes the
/// protobuf wire format itself: no library references ONNX Runtime or a protobuf package (ONNX Runtime is for the
/// programs that score exported models: the tests, the command line's check and benchmark, the examples).
/// </summary>
[TestClass]
public sealed class AssemblyLayeringTests
{
    static readonly Assembly Engine = typeof(TensorizedCircuit).Assembly;
    static readonly Assembly DataLoading = typeof(IdxFile).Assembly;
    static readonly Assembly MLNet = typeof(ProbabilisticCircuitTransformer).Assembly;

    static List<string> References(Assembly assembly) => assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();

    static bool IsMLNet(string name) => name.StartsWith("Microsoft.ML", StringComparison.Ordinal) && !name.StartsWith("Microsoft.ML.Circuits", StringComparison.Ordinal);

    [TestMethod]
    public void TheAssembliesAreTheOnesTheDesignNames()
    {
        Assert.AreEqual("Microsoft.ML.Circuits.Engine", Engine.GetName().Name);
        Assert.AreEqual("Microsoft.ML.Circuits.Data", DataLoading.GetName().Name);
        Assert.AreEqual("Microsoft.ML.Circuits", MLNet.GetName().Name);
    }

    [TestMethod]
    public void TheEngineReferencesNeitherMLNetNorSkiaSharpNorTheOtherAssemblies()
    {
        var references = References(Engine);
        CollectionAssert.Contains(references, "TorchSharp");
        var forbidden = references.Where(r => IsMLNet(r) || r.StartsWith("SkiaSharp", StringComparison.Ordinal) || r.StartsWith("Microsoft.ML.Circuits", StringComparison.Ordinal)).ToList();
        Assert.IsEmpty(forbidden, $"the engine must need only TorchSharp, but references {string.Join(", ", forbidden)}");
    }

    [TestMethod]
    public void NoLibraryReferencesOnnxRuntimeOrAProtobufPackage()
    {
        static bool IsOnnxOrProtobuf(string name) =>
            name.StartsWith("Microsoft.ML.OnnxRuntime", StringComparison.Ordinal) || name.StartsWith("Microsoft.ML.OnnxTransformer", StringComparison.Ordinal) ||
            name.StartsWith("Google.Protobuf", StringComparison.Ordinal) || name.StartsWith("protobuf-net", StringComparison.Ordinal);
        foreach (var assembly in new[] { Engine, DataLoading, MLNet })
        {
            var found = References(assembly).Where(IsOnnxOrProtobuf).ToList();
            Assert.IsEmpty(found, $"{assembly.GetName().Name} must not reference {string.Join(", ", found)}: exported models are scored by the consumer's ONNX Runtime");
        }
    }

    [TestMethod]
    public void DataLoadingReferencesTheEngineAndSkiaSharpButNotMLNet()
    {
        var references = References(DataLoading);
        CollectionAssert.Contains(references, "Microsoft.ML.Circuits.Engine");
        CollectionAssert.Contains(references, "SkiaSharp");
        Assert.IsEmpty(references.Where(IsMLNet).ToList(), "data loading must not depend on ML.NET");
        CollectionAssert.DoesNotContain(references, "Microsoft.ML.Circuits");
    }

    [TestMethod]
    public void TheMLNetAssemblyBuildsOnTheEngine()
    {
        var references = References(MLNet);
        CollectionAssert.Contains(references, "Microsoft.ML.Circuits.Engine");
        Assert.IsTrue(references.Any(IsMLNet), "the ML.NET assembly references ML.NET");
    }
}
