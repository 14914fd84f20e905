using System.Reflection;

namespace Microsoft.ML.Circuits.Tests.MLNet;

/// <summary>
/// MLNet/ compiles against publicized ML.NET 5.0.1 and calls members that are internal there. MLNetContract lists
/// them and checks them at first use in an application; these tests fail loudly (rather than at some user's
/// Model.Load) if an ML.NET upgrade moves or removes them, and pin the message a user gets when they are missing.
/// </summary>
[TestClass]
public sealed class InternalsContractTests
{
    static readonly Assembly Data = typeof(MLContext).Assembly;

    [TestMethod]
    public void MLNetIsThePinnedVersion()
    {
        string version = Data.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;
        Assert.StartsWith("5.0.1", version, $"Microsoft.ML is {version}; MLNet/ was written against 5.0.1's internals — re-check them before upgrading.");
    }

    [TestMethod]
    public void TheLoadedMLNetHasEveryInternalMemberWeUse()
    {
        var failure = MLNetContract.Check(MLNetContract.Required);
        Assert.IsNull(failure, failure?.Message);
        MLNetContract.EnsureSatisfied();
    }

    [TestMethod]
    public void TheContractNamesTheSupportedRangeOfThePackage()
    {
        Assert.AreEqual("[5.0.1,5.1)", MLNetContract.SupportedVersions, "the range comes from CircuitsMLNetVersionRange in Directory.Packages.props");
    }

    [TestMethod]
    public void AMissingMemberFailsWithAMessageNamingItAndTheSupportedRange()
    {
        var failure = MLNetContract.Check([.. MLNetContract.Required, new("Microsoft.ML.ModelSaveContext", "SaveBinaryStreamRenamed")]);

        Assert.IsNotNull(failure);
        Assert.Contains("Microsoft.ML.ModelSaveContext.SaveBinaryStreamRenamed", failure.Message);
        Assert.Contains("lacks 1 of them", failure.Message, "only the missing member is listed");
        Assert.Contains("Supported Microsoft.ML versions: [5.0.1,5.1)", failure.Message);
        Assert.Contains("Microsoft.ML 5.0.1 loaded in this process", failure.Message);
    }

    [TestMethod]
    public void AMissingTypeOrOverloadIsReportedToo()
    {
        var failure = MLNetContract.Check([
            new("Microsoft.ML.ModelLoadContextV2"),
            new("CatalogUtils", "GetEnvironment", FirstParameterAcceptsType: typeof(string), AnyNamespace: true),
            new("Microsoft.ML.VersionInfo", ".ctor", ["modelSignature", "noSuchParameter"]),
        ]);

        Assert.IsNotNull(failure);
        Assert.Contains("lacks 3 of them", failure.Message);
        Assert.Contains("Microsoft.ML.ModelLoadContextV2", failure.Message);
        Assert.Contains("CatalogUtils.GetEnvironment(String)", failure.Message);
        Assert.Contains("Microsoft.ML.VersionInfo.VersionInfo(modelSignature, noSuchParameter)", failure.Message);
    }

    [TestMethod]
    public void OurLoadersAreRegisteredForModelLoad()
    {
        var loaded = typeof(ProbabilisticCircuitTransformer).Assembly.GetCustomAttributes()
            .Where(a => a.GetType().FullName == "Microsoft.ML.LoadableClassAttribute")
            .Select(a => (Type)a.GetType().GetProperty("InstanceType")!.GetValue(a)!)
            .Select(t => t.Name).Order().ToList();
        CollectionAssert.AreEqual(
            new[] { nameof(CircuitAnomalyDetectionTransformer), nameof(CircuitInpaintingTransformer), nameof(ProbabilisticCircuitTransformer) },
            loaded, string.Join(", ", loaded));
    }
}
