using System.Reflection;

namespace Microsoft.ML.Circuits.Tests.MLNet;

/// <summary>
/// MLNet/ compiles against publicized ML.NET 5.0.1 and calls members that are internal there. These checks fail
/// loudly (rather than at some user's Model.Load) if an ML.NET upgrade moves or removes them.
/// </summary>
[TestClass]
public sealed class InternalsContractTests
{
    static readonly Assembly Core = typeof(ITransformer).Assembly;
    static readonly Assembly Data = typeof(MLContext).Assembly;

    [TestMethod]
    public void MLNetIsThePinnedVersion()
    {
        string version = Data.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;
        Assert.StartsWith("5.0.1", version, $"Microsoft.ML is {version}; MLNet/ was written against 5.0.1's internals — re-check them before upgrading.");
    }

    [TestMethod]
    [DataRow("Microsoft.ML.ModelSaveContext", "SaveBinaryStream")]
    [DataRow("Microsoft.ML.ModelSaveContext", "SaveNonEmptyString")]
    [DataRow("Microsoft.ML.ModelSaveContext", "SetVersionInfo")]
    [DataRow("Microsoft.ML.ModelSaveContext", "CheckAtModel")]
    [DataRow("Microsoft.ML.ModelLoadContext", "TryLoadBinaryStream")]
    [DataRow("Microsoft.ML.ModelLoadContext", "LoadNonEmptyString")]
    [DataRow("Microsoft.ML.ModelLoadContext", "CheckAtModel")]
    public void TheInternalMembersWeCallExist(string type, string method)
    {
        var t = Core.GetType(type, throwOnError: true)!;
        Assert.IsNotEmpty(t.GetMethods(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic).Where(m => m.Name == method),
            $"{type}.{method} is gone: the ML.NET persistence contract changed.");
    }

    [TestMethod]
    public void TheInternalTypesWeUseExist()
    {
        var versionInfo = Core.GetType("Microsoft.ML.VersionInfo");
        Assert.IsNotNull(versionInfo, "VersionInfo");
        Assert.IsTrue(versionInfo.GetConstructors(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)
            .Any(c => new[] { "modelSignature", "verWrittenCur", "verReadableCur", "verWeCanReadBack", "loaderSignature", "loaderAssemblyName" }
                .All(name => c.GetParameters().Any(p => p.Name == name))),
            "VersionInfo(modelSignature, verWrittenCur, verReadableCur, verWeCanReadBack, loaderSignature, loaderAssemblyName)");
        Assert.IsNotNull(Core.GetType("Microsoft.ML.LoadableClassAttribute"), "LoadableClassAttribute");
        Assert.IsNotNull(Core.GetType("Microsoft.ML.SignatureLoadModel"), "SignatureLoadModel");
        var catalogUtils = new[] { Core, Data }.SelectMany(a => a.GetTypes()).SingleOrDefault(t => t.Name == "CatalogUtils");
        Assert.IsNotNull(catalogUtils, "CatalogUtils");
        var getEnvironment = catalogUtils.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic)
            .Where(m => m.Name == "GetEnvironment" && m.GetParameters().Length == 1).ToList();
        foreach (var catalog in new[] { typeof(TransformsCatalog), typeof(AnomalyDetectionCatalog.AnomalyDetectionTrainers) })
            Assert.IsTrue(getEnvironment.Any(m => m.GetParameters()[0].ParameterType.IsAssignableFrom(catalog)), $"CatalogUtils.GetEnvironment({catalog.Name})");
    }

    [TestMethod]
    public void OurLoadersAreRegisteredForModelLoad()
    {
        var attributes = typeof(ProbabilisticCircuitTransformer).Assembly.GetCustomAttributes()
            .Where(a => a.GetType().FullName == "Microsoft.ML.LoadableClassAttribute").ToList();
        Assert.HasCount(3, attributes, "the density, anomaly and inpainting transformers each register one loader");
    }
}
