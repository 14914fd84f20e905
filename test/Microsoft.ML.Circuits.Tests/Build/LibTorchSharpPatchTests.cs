using Circuits.LibTorchSharpPatch;

namespace Microsoft.ML.Circuits.Tests.Build;

/// <summary>
/// The libLibTorchSharp.so patch that the engine package's buildTransitive targets run in every consumer's build
/// (build/Circuits.LibTorchSharpPatch, compiled into the tests from the same source): what it changes in TorchSharp's
/// library as shipped, that a second run changes nothing, and that this test run's own copy is the patched one.
/// </summary>
[TestClass]
public sealed class LibTorchSharpPatchTests
{
    const string MissingVersion = "GLIBCXX_3.4.32";

    static string OutputCopy => Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");

    // TorchSharp's library as the package ships it, read from the NuGet cache (never written).
    static byte[] ShippedLibrary()
    {
        string packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p
            ? p : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string version = typeof(TorchSharp.torch).Assembly.GetName().Version is { } v ? $"{v.Major}.{v.Minor}.{v.Build}" : "";
        string path = Path.Combine(packages, "torchsharp", version, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        if (!File.Exists(path)) Assert.Inconclusive($"TorchSharp's shipped library is not at {path}.");
        return File.ReadAllBytes(path);
    }

    [TestMethod]
    public void TheShippedLibraryGetsItsOneGlibcxx332SymbolUnversionedAndTheVersionMadeWeak()
    {
        byte[] image = ShippedLibrary();

        var result = ElfVersionPatcher.Patch(image, MissingVersion);

        Assert.IsTrue(result.Changed);
        Assert.IsTrue(result.VersionFound);
        CollectionAssert.AreEqual(new[] { "_ZSt21ios_base_library_initv" }, result.Symbols.ToArray());
    }

    [TestMethod]
    public void PatchingTwiceChangesNothingTheSecondTime()
    {
        byte[] image = ShippedLibrary();
        ElfVersionPatcher.Patch(image, MissingVersion);
        byte[] once = (byte[])image.Clone();

        var again = ElfVersionPatcher.Patch(image, MissingVersion);

        Assert.IsFalse(again.Changed, again.Message);
        CollectionAssert.AreEqual(once, image);
    }

    [TestMethod]
    public void TheBuildPatchedTheCopyInTheOutputFolderAndOnlyThat()
    {
        if (OperatingSystem.IsWindows()) Assert.Inconclusive("The patch runs on Linux only.");
        byte[] shipped = ShippedLibrary();
        byte[] expected = (byte[])shipped.Clone();
        ElfVersionPatcher.Patch(expected, MissingVersion);

        CollectionAssert.AreEqual(expected, File.ReadAllBytes(OutputCopy), "the output folder's copy is not the patched library");
        Assert.IsTrue(ElfVersionPatcher.Patch(ShippedLibrary(), MissingVersion).Changed, "the NuGet cache's copy was patched: it must stay as shipped");
    }

    [TestMethod]
    public void ALibraryThatDoesNotNeedTheVersionIsLeftAlone()
    {
        byte[] image = ShippedLibrary();
        byte[] before = (byte[])image.Clone();

        var result = ElfVersionPatcher.Patch(image, "GLIBCXX_9.9.99");

        Assert.IsFalse(result.Changed);
        Assert.IsFalse(result.VersionFound);
        CollectionAssert.AreEqual(before, image);
    }

    [TestMethod]
    public void AFileThatIsNotElfIsRejectedWithAReason()
    {
        var e = Assert.Throws<InvalidDataException>(() => ElfVersionPatcher.Patch(new byte[128], MissingVersion));
        Assert.Contains("not an ELF file", e.Message);
    }
}
