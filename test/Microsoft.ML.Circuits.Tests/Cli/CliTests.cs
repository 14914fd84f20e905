using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using Microsoft.ML.Circuits.Tests.MLNet;

namespace Microsoft.ML.Circuits.Tests.Cli;

/// <summary>The command line (examples/Circuits.Cli), run as a separate process as a user would.</summary>
[TestClass]
public sealed class CliTests
{
    /// <summary>Runs the command line as a separate process: exit code, standard output, standard error.</summary>
    internal static (int ExitCode, string Output, string Error) Run(params string[] args) =>
        RunDll(typeof(CliTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "CircuitsCli").Value!, args);

    /// <summary>Runs a built program (<paramref name="dll"/>) with <c>dotnet</c> as a separate process: exit code, standard output, standard error.</summary>
    internal static (int ExitCode, string Output, string Error) RunDll(string dll, params string[] args)
    {
        Assert.IsTrue(File.Exists(dll), $"{dll} was not built");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(dll);
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output.Result, error);
    }

    [TestMethod]
    public void InfoPrintsTheParameterCountAndTheFoldedLayers()
    {
        var (code, output, error) = Run("info", "--rg", "QG", "--layer", "cp", "--k", "8", "--dataset", "mnist");
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "parameters:     1,809,218");
        StringAssert.Contains(output, "folded layers:  17 (10 sum-product, 7 mixing)");
        var rows = output.Split('\n').Where(l => l.TrimStart().Length > 0 && char.IsDigit(l.TrimStart()[0])).ToList();
        Assert.HasCount(17, rows);
        StringAssert.Contains(rows[0], "cp");
        StringAssert.Contains(rows[0], "576");
        StringAssert.Contains(rows[2], "mixing");
    }

    [TestMethod]
    public void InfoAcceptsTheOriginalNamesCaseInsensitively()
    {
        var (code, output, _) = Run("info", "--rg", "pd", "--layer", "CP-XS", "--k", "8");
        Assert.AreEqual(0, code);
        StringAssert.Contains(output, "1,631,388");
        var celeba = Run("info", "--rg", "qt", "--layer", "cp", "--k", "16", "--dataset", "celeba");
        StringAssert.Contains(celeba.Output, "64×64×3");
        var small = Run("info", "--rg", "QG", "--layer", "tucker", "--k", "2", "--image-size", "4x6", "--channels", "2");
        Assert.AreEqual(0, small.ExitCode, small.Error);
        StringAssert.Contains(small.Output, "4×6×2");
    }

    [TestMethod]
    public void BadOptionsExitWithCodeTwoAndSayWhy()
    {
        var tucker = Run("info", "--rg", "QT", "--layer", "tucker", "--k", "8");
        Assert.AreEqual(2, tucker.ExitCode);
        StringAssert.Contains(tucker.Error, "arity 2");
        var k = Run("info", "--k", "0");
        Assert.AreEqual(2, k.ExitCode);
        StringAssert.Contains(k.Error, "[--k]");
        var rg = Run("info", "--rg", "XX");
        Assert.AreEqual(2, rg.ExitCode);
        StringAssert.Contains(rg.Error, "QT, QT4, QT2, QG, PD, BT");
        // Without CUDA, asking for it is a usage error that says how to provide it; with CUDA these would simply run.
        if (!TorchSharp.torch.cuda.is_available())
        {
            var cuda = Run("train", "--dataset", "mnist", "--k", "2", "--device", "cuda");
            Assert.AreEqual(2, cuda.ExitCode);
            StringAssert.Contains(cuda.Error, "LD_LIBRARY_PATH");
            var gpu = Run("bench", "--k", "2", "--gpu", "0");
            Assert.AreEqual(2, gpu.ExitCode, gpu.Error);
        }
    }

    [TestMethod]
    public void TrainWritesAModelZipALogAndReportsBitsPerDimensionThenTestEvaluatesIt()
    {
        string dir = MLNetData.TempFolder();
        var (code, output, error) = Run("train", "--dataset", "mnist", "--rg", "QT", "--layer", "cp", "--k", "2", "--lr", "0.1",
            "--batch-size", "64", "--max-num-epochs", "2", "--limit", "512", "--model-dir", dir);
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "best train bpd");
        StringAssert.Contains(output, "test bpd");
        string models = Path.Combine(dir, "models", "mnist", "QT", "cp", "cat", "clamp", "k_2", "lr_0.1", "b_64");
        string zip = Directory.GetFiles(models, "*.zip").Single();
        StringAssert.Matches(Path.GetFileName(zip), new System.Text.RegularExpressions.Regex(@"^\d\d_\d\d_\d{4}_\d\d_\d\d_\d\d\.zip$"));
        string log = Directory.GetFiles(Path.Combine(dir, "logs", "mnist", "QT", "cp", "cat", "clamp", "k_2", "lr_0.1", "b_64"), "*.jsonl").Single();
        var epochs = File.ReadAllLines(log).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.HasCount(3, epochs);
        Assert.AreEqual(2, epochs[^1].GetProperty("epoch").GetInt32());

        // The zip is a standard ML.NET model.
        using (var transformer = (ProbabilisticCircuitTransformer)new MLContext().Model.Load(zip, out var schema))
        {
            Assert.AreEqual(2, transformer.Description.Units);
            Assert.IsNotNull(schema.GetColumnOrNull("Pixels"));
            Assert.AreEqual(2, transformer.TrainingReport!.Epochs);
        }

        string csv = Path.Combine(dir, "results.csv");
        var test = Run("test", "--model-path", zip, "--dataset", "mnist", "--csv-file-path", csv);
        Assert.AreEqual(0, test.ExitCode, test.Error);
        StringAssert.Matches(test.Output, new System.Text.RegularExpressions.Regex(@"test +2004 images"));
        var lines = File.ReadAllLines(csv);
        Assert.AreEqual("path,train_LL,valid_LL,test_LL,train_bpd,valid_bpd,test_bpd", lines[0]);
        Assert.HasCount(2, lines);

        var compress = Run("compress", "--tucker-model-path", zip, "--save-model-dir", dir, "--rank", "2");
        Assert.AreEqual(2, compress.ExitCode);
        StringAssert.Contains(compress.Error, "Only circuits with Tucker layers");
        Assert.IsFalse(File.Exists(Path.Combine(dir, "rank_2.zip")));
    }

    [TestMethod]
    public void CompressAndFinetuneFollowTheOriginalFileNames()
    {
        string dir = MLNetData.TempFolder();
        var train = Run("train", "--dataset", "mnist", "--rg", "QG", "--layer", "tucker", "--k", "2", "--lr", "0.1",
            "--batch-size", "64", "--max-num-epochs", "1", "--limit", "256", "--model-dir", dir);
        Assert.AreEqual(0, train.ExitCode, train.Error);
        string tucker = Directory.GetFiles(dir, "*.zip", SearchOption.AllDirectories).Single();
        string saveDir = Path.Combine(dir, "compressed");
        var compress = Run("compress", "--tucker-model-path", tucker, "--save-model-dir", saveDir, "--rank", "2", "--dataset", "mnist");
        Assert.AreEqual(0, compress.ExitCode, compress.Error);
        StringAssert.Contains(compress.Output, "relative error");
        StringAssert.Contains(compress.Output, "test bpd right after compression");
        string rank2 = Path.Combine(saveDir, "rank_2.zip");
        Assert.IsTrue(File.Exists(rank2));
        byte[] before = File.ReadAllBytes(rank2);
        var again = Run("compress", "--tucker-model-path", tucker, "--save-model-dir", saveDir, "--rank", "2");
        Assert.AreEqual(1, again.ExitCode);
        StringAssert.Contains(again.Error, "already exists");
        CollectionAssert.AreEqual(before, File.ReadAllBytes(rank2));

        var finetune = Run("finetune", "--model-path", rank2, "--dataset", "mnist", "--max-num-epochs", "1", "--batch-size", "64", "--limit", "256");
        Assert.AreEqual(0, finetune.ExitCode, finetune.Error);
        StringAssert.Contains(finetune.Output, "test bpd");
        Assert.IsTrue(File.Exists(Path.Combine(saveDir, "rank_2finetuned.zip")));
    }

    [TestMethod]
    public void TrainReadsACelebAStyleFolderOfRgbImages()
    {
        string root = MLNetData.TempFolder();
        var lines = new List<string>();
        for (int i = 0; i < 60; i++)
        {
            string name = $"{i + 1:000000}.png";
            using var bitmap = new SkiaSharp.SKBitmap(40, 50);
            bitmap.Erase(new SkiaSharp.SKColor((byte)(i * 4), (byte)(255 - i * 4), 128));
            Directory.CreateDirectory(Path.Combine(root, "img_align_celeba"));
            using (var image = SkiaSharp.SKImage.FromBitmap(bitmap))
            using (var png = image.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100))
                File.WriteAllBytes(Path.Combine(root, "img_align_celeba", name), png.ToArray());
            lines.Add($"{name} {(i < 40 ? 0 : i < 50 ? 1 : 2)}");
        }
        File.WriteAllLines(Path.Combine(root, "list_eval_partition.txt"), lines);
        string dir = MLNetData.TempFolder();
        var (code, output, error) = Run("train", "--dataset", "celeba", "--data-dir", root, "--image-size", "8x8", "--crop-size", "30",
            "--rg", "QG", "--layer", "cp", "--k", "2", "--batch-size", "8", "--max-num-epochs", "1", "--model-dir", dir);
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "celeba: 40 train, 10 valid, 10 test images");
        StringAssert.Contains(output, "8×8×3");
        // test reads the folder with the same crop and reproduces the test bpd that train printed.
        string model = Directory.GetFiles(Path.Combine(dir, "models"), "*.zip", SearchOption.AllDirectories).Single();
        string trainedTest = System.Text.RegularExpressions.Regex.Match(output, @"test bpd ([\d.]+)").Groups[1].Value;
        var tested = Run("test", "--model-path", model, "--dataset", "celeba", "--data-dir", root, "--crop-size", "30");
        Assert.AreEqual(0, tested.ExitCode, tested.Error);
        StringAssert.Matches(tested.Output, new System.Text.RegularExpressions.Regex($@"test\s+10 images .* bpd {System.Text.RegularExpressions.Regex.Escape(trainedTest)}"));
        var missing = Run("train", "--dataset", "celeba", "--k", "2");
        Assert.AreEqual(2, missing.ExitCode);
        StringAssert.Contains(missing.Error, "--data-dir");
    }

    [TestMethod]
    public void BenchPrintsATableRow()
    {
        var (code, output, error) = Run("bench", "--rg", "QT", "--layer", "cp", "--k", "2", "--batch-size", "8", "--steps", "2", "--warmup", "1");
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "| QT | cp | 2 |");
        StringAssert.Contains(output, "train ms/step");
    }

    [TestMethod]
    public void BenchTimesTheDatasetsImagesWhenAskedAndSaysWhichPixelsItTimed()
    {
        var random = Run("bench", "--rg", "QT", "--layer", "cp", "--k", "2", "--batch-size", "8", "--steps", "1", "--warmup", "0");
        Assert.AreEqual(0, random.ExitCode, random.Error);
        StringAssert.Contains(random.Output, "pixels: random, uniform in 0..255");
        var data = Run("bench", "--rg", "QT", "--layer", "cp", "--k", "2", "--batch-size", "8", "--steps", "1", "--warmup", "0", "--images", "data");
        Assert.AreEqual(0, data.ExitCode, data.Error);
        StringAssert.Contains(data.Output, "pixels: the first 8 training images of mnist");
        StringAssert.Contains(data.Output, "| QT | cp | 2 |");
        var tooMany = Run("bench", "--k", "2", "--batch-size", "100000", "--steps", "1", "--warmup", "0", "--images", "data");
        Assert.AreNotEqual(0, tooMany.ExitCode);
        StringAssert.Contains(tooMany.Error, "fewer than --batch-size 100000");
        var unknown = Run("bench", "--k", "2", "--images", "photos");
        Assert.AreNotEqual(0, unknown.ExitCode);
        StringAssert.Contains(unknown.Error, "--images photos is not allowed; expected random or data");
    }

    [TestMethod]
    public void BenchCompareTimesBothEvaluationPathsAndPrintsTheirRatio()
    {
        var (code, output, error) = Run("bench", "--rg", "QT", "--layer", "cp", "--k", "2", "--batch-size", "8", "--steps", "2", "--warmup", "1", "--threads", "1", "--compare");
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "| managed | log-sum-exp |");
        StringAssert.Contains(output, "| managed | scaled-linear |");
        StringAssert.Contains(output, "train ratio");
        StringAssert.Contains(output, "| QT | cp | 2 | wall |");

        var one = Run("bench", "--rg", "QT", "--layer", "cp", "--k", "2", "--batch-size", "8", "--steps", "1", "--warmup", "0", "--semiring", "log-sum-exp");
        Assert.AreEqual(0, one.ExitCode, one.Error);
        // A single path runs on the default kernels: native for the CP layers where the library is available (Auto).
        StringAssert.Contains(one.Output, TensorizedCircuit.NativeKernelsUnavailable is null ? "| native | log-sum-exp |" : "| managed | log-sum-exp |");
        // The native CP kernel computes the scaled-linear path too; a Tucker layer's only log-sum-exp: the row names
        // the kernel that ran the path.
        var scaled = Run("bench", "--rg", "QT", "--layer", "cp", "--k", "2", "--batch-size", "8", "--steps", "1", "--warmup", "0", "--semiring", "scaled-linear");
        Assert.AreEqual(0, scaled.ExitCode, scaled.Error);
        StringAssert.Contains(scaled.Output, TensorizedCircuit.NativeKernelsUnavailable is null ? "| native | scaled-linear |" : "| managed | scaled-linear |");
        var tucker = Run("bench", "--rg", "QG", "--layer", "tucker", "--image-size", "4x4", "--k", "2", "--batch-size", "8", "--steps", "1", "--warmup", "0", "--semiring", "scaled-linear");
        Assert.AreEqual(0, tucker.ExitCode, tucker.Error);
        // Its Tucker layers run managed on that path (its mixing layers natively where the library is available).
        StringAssert.Matches(tucker.Output, new System.Text.RegularExpressions.Regex(@"\| managed(\+native)? \| scaled-linear \|"));
        var both = Run("bench", "--k", "2", "--compare", "--semiring", "scaled-linear");
        Assert.AreNotEqual(0, both.ExitCode);
        StringAssert.Contains(both.Error, "--compare");
    }

    [TestMethod]
    public void BenchTakesTheKernelAndComparesKernels()
    {
        var bad = Run("bench", "--k", "2", "--kernel", "fastest");
        Assert.AreEqual(2, bad.ExitCode, bad.Error);
        StringAssert.Contains(bad.Error, "--kernel must be auto, managed or native");
        var clash = Run("bench", "--k", "2", "--compare-kernels", "--compare");
        Assert.AreNotEqual(0, clash.ExitCode);
        StringAssert.Contains(clash.Error, "--compare-kernels");
        if (RefusedWithoutNativeKernels("bench", "--k", "2", "--kernel", "native")) return;
        // --kernel native runs the CP layers natively, on the default scaled-linear path, which they compute too.
        var native = Run("bench", "--rg", "QT", "--layer", "cp", "--k", "2", "--batch-size", "8", "--steps", "1", "--warmup", "0", "--threads", "1", "--kernel", "native");
        Assert.AreEqual(0, native.ExitCode, native.Error);
        StringAssert.Contains(native.Output, "| native | scaled-linear |");   // a QT circuit has CP layers only
        var (code, output, error) = Run("bench", "--rg", "QT", "--layer", "cp", "--k", "2", "--batch-size", "8", "--steps", "2", "--warmup", "1", "--threads", "1", "--compare-kernels");
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "| managed | log-sum-exp |");
        StringAssert.Contains(output, "| native | log-sum-exp |");
        StringAssert.Contains(output, "train ms/step managed | train ms/step native | train ratio");
        StringAssert.Contains(output, "| managed | scaled-linear |");
        StringAssert.Contains(output, "| native | scaled-linear |");
        Assert.AreEqual(2, output.Split("train ms/step managed | train ms/step native | train ratio").Length - 1, "the kernels compared on each path");
        StringAssert.Contains(output, "train ms/step log-sum-exp | train ms/step scaled-linear | train ratio");
    }

    /// <summary>
    /// Where the native kernels are unavailable: runs the command, asserts it is refused (exit 2) naming why, and returns
    /// true; else false without running it.
    /// </summary>
    static bool RefusedWithoutNativeKernels(params string[] args)
    {
        if (TensorizedCircuit.NativeKernelsUnavailable is not { } reason) return false;
        var refused = Run(args);
        Assert.AreEqual(2, refused.ExitCode, refused.Error);
        StringAssert.Contains(refused.Error, reason);
        return true;
    }

    [TestMethod]
    public void BenchComparesANativeVariantInOneRun()
    {
        var bad = Run("bench", "--k", "2", "--compare-variant", "fastest");
        Assert.AreEqual(2, bad.ExitCode, bad.Error);
        StringAssert.Contains(bad.Error, "expected avx512, fused-input, recompute-factors, slot-gradients, fused-backward, kernel-threads or deferred-gradients");
        Assert.IsFalse(bad.Output.Contains("pixels:"), "refused before any work");
        var clash = Run("bench", "--k", "2", "--compare-variant", "fused-input", "--kernel", "managed");
        Assert.AreEqual(2, clash.ExitCode, clash.Error);
        StringAssert.Contains(clash.Error, "--compare-variant");
        if (RefusedWithoutNativeKernels("bench", "--k", "2", "--compare-variant", "fused-input")) return;
        var (code, output, error) = Run("bench", "--rg", "QG", "--layer", "cp", "--image-size", "4x4", "--k", "2", "--batch-size", "8", "--steps", "1",
            "--warmup", "0", "--threads", "1", "--compare-variant", "fused-input");
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "| native (input in steps) | scaled-linear |");
        StringAssert.Contains(output, "| native (input fused) | scaled-linear |");
        StringAssert.Contains(output, "train ms/step native (input in steps) | train ms/step native (input fused) | train ratio");
        StringAssert.Contains(output, "native vectors (GEMM, exp, log): ");
        // The other variants: each row names the setting it ran (two threads where the variant is about threads).
        foreach (var (variant, threads, without, with) in new[]
        {
            ("recompute-factors", "1", "CP factors saved", "CP factors recomputed"),
            ("slot-gradients", "1", "CP slot gradients kept", "CP slot gradients recomputed"),
            ("fused-backward", "1", "CP backward in two passes", "CP backward fused"),
            ("kernel-threads", "2", "kernel ranges on the thread pool", "kernel ranges on spinning workers"),
            ("deferred-gradients", "1", "mixing gradients written", "mixing gradients deferred"),
        })
        {
            (code, output, error) = Run("bench", "--rg", "QG", "--layer", "cp", "--image-size", "4x4", "--k", "2", "--batch-size", "8", "--steps", "1",
                "--warmup", "0", "--threads", threads, "--compare-variant", variant);
            Assert.AreEqual(0, code, $"{variant}: {error}");
            StringAssert.Contains(output, $"| native ({without}) | scaled-linear |");
            StringAssert.Contains(output, $"| native ({with}) | scaled-linear |");
        }
    }

    [TestMethod]
    public void AMissingModelFileIsReportedWithoutAStackTrace()
    {
        var (code, _, error) = Run("test", "--model-path", "/nonexistent/model.zip");
        Assert.AreEqual(1, code);
        StringAssert.StartsWith(error, "error: Model file not found");
        string corrupt = Path.Combine(MLNetData.TempFolder(), "model.zip");
        File.WriteAllText(corrupt, "PK this is not a zip");
        var bad = Run("test", "--model-path", corrupt);
        Assert.AreEqual(1, bad.ExitCode);
        StringAssert.Contains(bad.Error, "not a readable circuit model zip");
    }
}
