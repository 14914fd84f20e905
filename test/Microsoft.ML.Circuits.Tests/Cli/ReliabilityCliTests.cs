using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Circuits.Tests.MLNet;

namespace Microsoft.ML.Circuits.Tests.Cli;

/// <summary>
/// The defects of the reliability review (issue 10), each reproduced through the command line run as a separate
/// process: concurrent runs, divergence, crafted files, impossible sizes, parse errors, wrong path kinds, logs.
/// </summary>
[TestClass]
public sealed class ReliabilityCliTests
{
    static readonly string[] SmallTrain = ["train", "--dataset", "mnist", "--rg", "QG", "--layer", "cp", "--k", "2", "--max-num-epochs", "1", "--limit", "256", "--batch-size", "64"];

    static Process Start(params string[] args)
    {
        string cli = typeof(ReliabilityCliTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "CircuitsCli").Value!;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(cli);
        foreach (var a in args) start.ArgumentList.Add(a);
        return Process.Start(start)!;
    }

    /// <summary>No .NET stack trace and no native one: one "error:" line.</summary>
    static void AssertOneLineError(string error)
    {
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.HasCount(1, lines, error);
        StringAssert.StartsWith(lines[0], "error: ", error);
        Assert.DoesNotContain("   at ", error);
        Assert.DoesNotContain("Exception", error);
    }

    // Defect 1 ------------------------------------------------------------------------------------------------------

    [TestMethod]
    public void TrainRunsStartedTogetherEachKeepTheirOwnModelAndLog()
    {
        // Three runs with different seeds, started at once into one --model-dir: at least two share a start second
        // (the file name's stamp). Each must print its own model path, and each model must hold that run's seed.
        string dir = MLNetData.TempFolder();
        int[] seeds = [1, 2, 3];
        var processes = seeds.Select(s => Start([.. SmallTrain, "--seed", s.ToString(), "--model-dir", dir])).ToList();
        var results = processes.Select(p =>
        {
            var output = p.StandardOutput.ReadToEndAsync();
            string error = p.StandardError.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, Output: output.Result, Error: error);
        }).ToList();
        foreach (var p in processes) p.Dispose();
        var paths = new List<string>();
        for (int i = 0; i < seeds.Length; i++)
        {
            Assert.AreEqual(0, results[i].ExitCode, results[i].Error);
            string path = System.Text.RegularExpressions.Regex.Match(results[i].Output, @"model:\s+(\S+\.zip)").Groups[1].Value;
            paths.Add(path);
            using var model = CircuitModelFile.Load(new MLContext(), path);
            Assert.AreEqual(seeds[i], model.TrainingReport!.Options["Seed"].GetInt32(), $"{path} holds another run's model");
        }
        Assert.HasCount(3, paths.Distinct());
        var zips = Directory.GetFiles(dir, "*.zip", SearchOption.AllDirectories);
        Assert.HasCount(3, zips);
        var logs = Directory.GetFiles(Path.Combine(dir, "logs"), "*.jsonl", SearchOption.AllDirectories);
        Assert.HasCount(3, logs);
        foreach (string log in logs)
        {
            var lines = File.ReadAllLines(log);
            Assert.HasCount(2, lines, log);
            foreach (string line in lines) JsonDocument.Parse(line).Dispose();
        }
    }

    // Defect 2 ------------------------------------------------------------------------------------------------------

    [TestMethod]
    public void AnInfiniteValidationLogLikelihoodIsADivergenceThatSaysNoModelWasWritten()
    {
        string dir = MLNetData.TempFolder();
        var (code, output, error) = CliTests.Run("train", "--dataset", "mnist", "--rg", "QG", "--layer", "cp", "--k", "2", "--max-num-epochs", "8",
            "--limit", "512", "--valid-freq", "1", "--lr", "100", "--reparam", "exp", "--model-dir", dir);
        Assert.AreEqual(1, code, output + error);
        AssertOneLineError(error);
        StringAssert.Contains(error, "Training diverged");
        StringAssert.Contains(error, "No model file was written");
        Assert.IsEmpty(Directory.GetFiles(dir, "*.zip", SearchOption.AllDirectories));
        string log = Directory.GetFiles(Path.Combine(dir, "logs"), "*.jsonl", SearchOption.AllDirectories).Single();
        StringAssert.Contains(error, log);
        foreach (string line in File.ReadAllLines(log)) JsonDocument.Parse(line).Dispose();
    }

    // Defect 3 ------------------------------------------------------------------------------------------------------

    [TestMethod]
    public void ACraftedIdxHeaderIsNamedWithoutAStackTrace()
    {
        string data = MLNetData.TempFolder();
        string images = Path.Combine(data, "train-images-idx3-ubyte");
        File.WriteAllBytes(images, [0, 0, 8, 3, 0, 0, 0, 0x10, 0x40, 0, 0, 0, 0x40, 0, 0, 0]);
        IdxFile.WriteLabels(Path.Combine(data, "train-labels-idx1-ubyte"), new byte[16]);
        IdxFile.WriteImages(Path.Combine(data, "t10k-images-idx3-ubyte"), 16, 28, 28, new byte[16 * 784]);
        IdxFile.WriteLabels(Path.Combine(data, "t10k-labels-idx1-ubyte"), new byte[16]);
        var (code, _, error) = CliTests.Run("train", "--dataset", "mnist", "--data-dir", data, "--k", "2", "--model-dir", MLNetData.TempFolder());
        Assert.AreEqual(1, code, error);
        AssertOneLineError(error);
        StringAssert.Contains(error, images);
        StringAssert.Contains(error, "dimension 1 = 1073741824");

        IdxFile.WriteImages(images, 16, 0, 0, []);
        var empty = CliTests.Run("train", "--dataset", "mnist", "--data-dir", data, "--k", "2", "--model-dir", MLNetData.TempFolder());
        Assert.AreEqual(1, empty.ExitCode, empty.Error);
        AssertOneLineError(empty.Error);
        StringAssert.Contains(empty.Error, images);
        StringAssert.Contains(empty.Error, "0×0 pixels");
    }

    // Defect 4 ------------------------------------------------------------------------------------------------------

    [TestMethod]
    public void AConfigurationThatCannotFitIsRefusedBeforeAllocating()
    {
        foreach (var command in new[] { "train", "bench", "bench-transform" })
        {
            var clock = Stopwatch.StartNew();
            string[] args = [command, "--dataset", "mnist", "--rg", "QT", "--layer", "cp", "--k", "65536"];
            var (code, _, error) = CliTests.Run(command == "train" ? [.. args, "--model-dir", MLNetData.TempFolder()] : args);
            Assert.AreEqual(2, code, command + ": " + error);
            AssertOneLineError(error);
            StringAssert.Contains(error, "parameters");
            StringAssert.Contains(error, " GB");
            StringAssert.Contains(error, "memory is available");
            StringAssert.Contains(error, "Reduce --k");
            Assert.IsLessThan(60, clock.Elapsed.TotalSeconds, "the refusal came after work");
        }
    }

    // Defect 6 ------------------------------------------------------------------------------------------------------

    [TestMethod]
    [DataRow("--bogus", "Unrecognized")]
    [DataRow("--k abc", "abc")]
    [DataRow("--k 2 --k 3", "--k")]
    [DataRow("--k", "--k")]
    public void CommandLinesThatDoNotParseExitWithCodeTwo(string arguments, string named)
    {
        var (code, _, error) = CliTests.Run(["info", .. arguments.Split(' ')]);
        Assert.AreEqual(2, code, error);
        StringAssert.Contains(error, named);
        var missing = CliTests.Run("compress", "--rank", "2");
        Assert.AreEqual(2, missing.ExitCode, missing.Error);
        StringAssert.Contains(missing.Error, "--tucker-model-path");
    }

    [TestMethod]
    [DataRow("--lr", "-1", "--lr -1 is not allowed")]
    [DataRow("--batch-size", "0", "--batch-size 0 is not allowed")]
    [DataRow("--max-num-epochs", "0", "--max-num-epochs 0 is not allowed")]
    [DataRow("--patience", "0", "--patience 0 is not allowed")]
    [DataRow("--valid-freq", "0", "--valid-freq 0 is not allowed")]
    [DataRow("--t0", "0", "--t0 0 is not allowed")]
    [DataRow("--weight-decay", "-1", "--weight-decay -1 is not allowed")]
    [DataRow("--eta-min", "-1", "when --t0 > 1")]
    public void TrainingOptionErrorsNameTheFlagNotTheProperty(string flag, string value, string expected)
    {
        var (code, _, error) = CliTests.Run("train", "--k", "2", "--model-dir", MLNetData.TempFolder(), flag, value);
        Assert.AreEqual(2, code, error);
        AssertOneLineError(error);
        StringAssert.Contains(error, expected);
        foreach (string property in new[] { "LearningRate", "BatchSize", "MaxEpochs", "Patience", "ValidationFrequency", "T0 ", "EtaMin", "WeightDecay" })
            Assert.DoesNotContain(property, error);
    }

    // Defect 9 ------------------------------------------------------------------------------------------------------

    [TestMethod]
    public void PathsOfTheWrongKindAreNamedBeforeAnyWork()
    {
        string dir = MLNetData.TempFolder();
        string file = Path.Combine(dir, "a-file.zip");
        File.WriteAllText(file, "not a model");

        var folderAsModel = CliTests.Run("test", "--model-path", dir);
        Assert.AreEqual(2, folderAsModel.ExitCode, folderAsModel.Error);
        StringAssert.Contains(folderAsModel.Error, "is a folder; expected a model file");

        var fileAsData = CliTests.Run("train", "--k", "2", "--data-dir", file, "--model-dir", MLNetData.TempFolder());
        Assert.AreEqual(2, fileAsData.ExitCode, fileAsData.Error);
        StringAssert.Contains(fileAsData.Error, "is a file; expected a folder");

        string model = TrainedModel();
        var csvFolder = CliTests.Run("test", "--model-path", model, "--csv-file-path", dir);
        Assert.AreEqual(2, csvFolder.ExitCode, csvFolder.Error);
        StringAssert.Contains(csvFolder.Error, "--csv-file-path");
        StringAssert.Contains(csvFolder.Error, "is a folder; expected a file");
        Assert.DoesNotContain("images", csvFolder.Output, "the evaluation ran before the check");

        var saveDirFile = CliTests.Run("compress", "--tucker-model-path", model, "--save-model-dir", file, "--rank", "2");
        Assert.AreEqual(2, saveDirFile.ExitCode, saveDirFile.Error);
        StringAssert.Contains(saveDirFile.Error, "--save-model-dir");
        StringAssert.Contains(saveDirFile.Error, "is a file; expected a folder");
        Assert.DoesNotContain("compressing", saveDirFile.Output);

        var modelDirFile = CliTests.Run("train", "--k", "2", "--model-dir", file);
        Assert.AreEqual(2, modelDirFile.ExitCode, modelDirFile.Error);
        StringAssert.Contains(modelDirFile.Error, "--model-dir");
        StringAssert.Contains(modelDirFile.Error, "is a file; expected a folder");
        var under = CliTests.Run("train", "--k", "2", "--model-dir", Path.Combine(file, "out"));
        Assert.AreEqual(2, under.ExitCode, under.Error);
        StringAssert.Contains(under.Error, "is a file, so the folder cannot be created");
        foreach (var r in new[] { folderAsModel, fileAsData, csvFolder, saveDirFile, modelDirFile, under }) AssertOneLineError(r.Error);
    }

    static string TrainedModel()
    {
        string dir = MLNetData.TempFolder();
        var train = CliTests.Run([.. SmallTrain, "--model-dir", dir]);
        Assert.AreEqual(0, train.ExitCode, train.Error);
        return Directory.GetFiles(dir, "*.zip", SearchOption.AllDirectories).Single();
    }

    // Defect 8 ------------------------------------------------------------------------------------------------------

    [TestMethod]
    public void FinetuneOverwriteKeepsTheOldLogUntilItsModelIsReplacedAndStampsItsOwnMetadata()
    {
        string dir = MLNetData.TempFolder();
        var train = CliTests.Run([.. SmallTrain, "--reparam", "exp", "--model-dir", dir]);
        Assert.AreEqual(0, train.ExitCode, train.Error);
        string source = Directory.GetFiles(dir, "*.zip", SearchOption.AllDirectories).Single();
        DateTimeOffset sourceCreated;
        using (var s = CircuitModelFile.Load(new MLContext(), source)) sourceCreated = s.Model.Metadata.Created;

        var first = CliTests.Run("finetune", "--model-path", source, "--max-num-epochs", "1", "--batch-size", "64", "--limit", "256", "--lr", "0.01");
        Assert.AreEqual(0, first.ExitCode, first.Error);
        string output = Path.Combine(Path.GetDirectoryName(source)!, Path.GetFileNameWithoutExtension(source) + "finetuned.zip");
        string log = Path.ChangeExtension(output, ".jsonl");
        using (var tuned = CircuitModelFile.Load(new MLContext(), output))
        {
            Assert.IsGreaterThan(sourceCreated, tuned.Model.Metadata.Created, "the fine-tuned file kept the source's creation time");
            Assert.AreEqual(Path.GetFullPath(source), tuned.Model.Metadata.Source);
            Assert.AreEqual(1, tuned.TrainingReport!.Epochs);
        }
        byte[] model = File.ReadAllBytes(output), oldLog = File.ReadAllBytes(log);

        // A second run that diverges at its first validation: the old model and the old log stay together, unchanged.
        var failed = CliTests.Run("finetune", "--model-path", source, "--overwrite", "--max-num-epochs", "8", "--batch-size", "64", "--limit", "256",
            "--lr", "100", "--valid-freq", "1");
        Assert.AreEqual(1, failed.ExitCode, failed.Output + failed.Error);
        StringAssert.Contains(failed.Error, "Training diverged");
        StringAssert.Contains(failed.Error, "the file that was there before, untouched");
        CollectionAssert.AreEqual(model, File.ReadAllBytes(output));
        CollectionAssert.AreEqual(oldLog, File.ReadAllBytes(log));
        Assert.IsEmpty(Directory.GetFiles(Path.GetDirectoryName(log)!, "*.tmp*"), "the dead run's pending log was left behind");
    }

    // Defect 10 -----------------------------------------------------------------------------------------------------

    [TestMethod]
    public void AFailedRunLeavesNoEmptyLog()
    {
        string dir = MLNetData.TempFolder();
        // 256 training images cannot fill one batch of 1000: the trainer refuses after the log was opened.
        var (code, _, error) = CliTests.Run("train", "--k", "2", "--limit", "256", "--batch-size", "1000", "--model-dir", dir);
        Assert.AreEqual(2, code, error);
        StringAssert.Contains(error, "--batch-size 1000 is larger than the 256 training images");
        Assert.IsEmpty(Directory.Exists(dir) ? Directory.GetFiles(dir, "*", SearchOption.AllDirectories) : [], "the failed run left files behind");
    }

    [TestMethod]
    public void BenchTransformTakesDeviceAndThreads()
    {
        var (code, output, error) = CliTests.Run("bench-transform", "--rg", "QT", "--layer", "cp", "--k", "2", "--rows", "16", "--repeats", "1",
            "--device", "cpu", "--threads", "1");
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "| QT cp K=2 |");
        var cuda = CliTests.Run("bench-transform", "--k", "2", "--device", "cuda");
        if (!TorchSharp.torch.cuda.is_available())
        {
            Assert.AreEqual(2, cuda.ExitCode, cuda.Error);
            StringAssert.Contains(cuda.Error, "CUDA");
        }
    }
}
