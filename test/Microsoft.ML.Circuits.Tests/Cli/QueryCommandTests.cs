using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.ML.Circuits.Tests.MLNet;
using SkiaSharp;
using static Microsoft.ML.Circuits.Tests.Cli.CliTests;

namespace Microsoft.ML.Circuits.Tests.Cli;

/// <summary><c>sample</c>, <c>inpaint</c> and <c>test --mask</c>, run as a separate process on a small trained model.</summary>
[TestClass]
public sealed class QueryCommandTests
{
    static string folder = null!;
    static string model = null!;

    [ClassInitialize]
    public static void TrainOnce(TestContext _)
    {
        folder = MLNetData.TempFolder();
        var (code, _, error) = Run("train", "--dataset", "mnist", "--rg", "QG", "--layer", "cp", "--k", "4", "--lr", "0.1",
            "--batch-size", "128", "--max-num-epochs", "2", "--limit", "1024", "--model-dir", folder);
        Assert.AreEqual(0, code, error);
        model = Directory.GetFiles(folder, "*.zip", SearchOption.AllDirectories).Single();
    }

    [TestMethod]
    public void SampleWritesAPngGridOfTheRequestedSizeAndIsReproducible()
    {
        string png = Path.Combine(folder, "samples.png");
        var (code, output, error) = Run("sample", "--model-path", model, "--n", "10", "--columns", "5", "--seed", "3", "--output", png);
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "10 samples of QG cp K=4");
        StringAssert.Contains(output, $"wrote {png}");
        using (var bitmap = SKBitmap.Decode(png))
        {
            // 5 columns × 2 rows of 28×28 cells scaled ×3 with 2-pixel gaps.
            Assert.AreEqual(5 * (84 + 2) + 2, bitmap.Width);
            Assert.AreEqual(2 * (84 + 2) + 2, bitmap.Height);
        }
        byte[] first = File.ReadAllBytes(png);

        var refused = Run("sample", "--model-path", model, "--n", "10", "--columns", "5", "--seed", "4", "--output", png);
        Assert.AreEqual(2, refused.ExitCode);
        StringAssert.Contains(refused.Error, "already exists; pass --overwrite");
        CollectionAssert.AreEqual(first, File.ReadAllBytes(png), "a refused run leaves the file alone");

        var same = Run("sample", "--model-path", model, "--n", "10", "--columns", "5", "--seed", "3", "--output", png, "--overwrite");
        Assert.AreEqual(0, same.ExitCode, same.Error);
        CollectionAssert.AreEqual(first, File.ReadAllBytes(png), "the same seed draws the same images");
        var other = Run("sample", "--model-path", model, "--n", "10", "--columns", "5", "--seed", "4", "--output", png, "--overwrite");
        Assert.AreEqual(0, other.ExitCode, other.Error);
        CollectionAssert.AreNotEqual(first, File.ReadAllBytes(png));

        var bad = Run("sample", "--model-path", model, "--n", "0");
        Assert.AreEqual(2, bad.ExitCode);
        StringAssert.Contains(bad.Error, "--n must be between 1 and 4096");
        var folderOutput = Run("sample", "--model-path", model, "--output", folder);
        Assert.AreEqual(2, folderOutput.ExitCode);
        StringAssert.Contains(folderOutput.Error, "is a folder");
    }

    [TestMethod]
    public void InpaintDrawsOriginalMaskedSamplesAndMapAndComparesMapWithTheSamples()
    {
        string png = Path.Combine(folder, "inpaint.png");
        var (code, output, error) = Run("inpaint", "--model-path", model, "--dataset", "mnist", "--mask", "top", "--n", "3", "--samples", "2", "--output", png);
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "mask:   top; 3 test images from 0; 2 conditional samples each");
        var rows = output.Split('\n').Where(l => Regex.IsMatch(l, @"^\s+\d+\s+392\s")).ToList();
        Assert.HasCount(3, rows, output);
        foreach (var row in rows)
        {
            var v = row.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray();
            Assert.IsTrue(v[2] > 0 && v[3] < 0 && v[4] <= 0 && v[5] <= v[4], row);
        }
        StringAssert.Contains(output, "MAP minus best of 2 samples");
        using var bitmap = SKBitmap.Decode(png);
        Assert.AreEqual(5 * (84 + 2) + 2, bitmap.Width, "original | masked | 2 samples | MAP");
        Assert.AreEqual(3 * (84 + 2) + 2, bitmap.Height);
        // The masked cell shows the hidden top half in the mask colour.
        var hidden = bitmap.GetPixel(2 + 86 + 40, 2 + 10);
        Assert.AreEqual(new SKColor(40, 90, 200), hidden);

        var mask = Run("inpaint", "--model-path", model, "--mask", "diagonal", "--output", Path.Combine(folder, "x.png"));
        Assert.AreEqual(2, mask.ExitCode);
        StringAssert.Contains(mask.Error, "Unknown --mask 'diagonal'; use left | right | top | bottom | center | random");
        var range = Run("inpaint", "--model-path", model, "--start", "2003", "--n", "2", "--output", Path.Combine(folder, "y.png"));
        Assert.AreEqual(2, range.ExitCode);
        StringAssert.Contains(range.Error, "past the 2004 test images");
    }

    [TestMethod]
    public void TestWithAMaskReportsMarginalBitsPerObservedDimension()
    {
        var full = Run("test", "--model-path", model, "--dataset", "mnist");
        var masked = Run("test", "--model-path", model, "--dataset", "mnist", "--mask", "left");
        Assert.AreEqual(0, full.ExitCode, full.Error);
        Assert.AreEqual(0, masked.ExitCode, masked.Error);
        StringAssert.Contains(masked.Output, "mask:   left (marginal log-likelihood of the observed pixels; bpd per observed dimension)");
        double Ll(string output) => double.Parse(Regex.Match(output, @"test +2004 images +LL +(-?[\d.]+)").Groups[1].Value, CultureInfo.InvariantCulture);
        double Bpd(string output) => double.Parse(Regex.Match(output, @"test +2004 images .* bpd ([\d.]+)").Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.IsGreaterThan(Ll(full.Output), Ll(masked.Output), "half the pixels are more likely than all of them");
        Assert.AreEqual(-Ll(masked.Output) / (Math.Log(2) * 392), Bpd(masked.Output), 1e-3, "bits per observed dimension");
    }

    [TestMethod]
    public void PicturesOfAModelWithFewCategoriesUseTheWholeGrayRange()
    {
        // A 4-category model whose pixels are almost surely 2: drawn as 2/3 of white (170), not as 2/255.
        var description = new CircuitDescription { ImageHeight = 4, ImageWidth = 4, Categories = 4, RegionGraph = RegionGraphKind.QuadTree, Units = 2 };
        using var circuit = new TensorizedCircuit(description, seed: 1);
        using (TorchSharp.torch.no_grad())
        {
            circuit.Input.Logits.fill_(-20f);
            circuit.Input.Logits.select(2, 2).fill_(20f);
        }
        circuit.MarkParametersChanged();
        var ml = new MLContext();
        string zip = Path.Combine(folder, "four-categories.zip");
        using (var transformer = ProbabilisticCircuitTransformer.FromModel(ml, new CircuitModel(circuit)))
            CircuitModelFile.Save(ml, transformer, zip);
        string png = Path.Combine(folder, "four.png");
        var (code, _, error) = Run("sample", "--model-path", zip, "--n", "1", "--output", png);
        Assert.AreEqual(0, code, error);
        using var bitmap = SKBitmap.Decode(png);
        Assert.AreEqual(new SKColor(170, 170, 170), bitmap.GetPixel(2 + 10, 2 + 10), "value 2 of 4 categories is drawn as 170");
    }
}
