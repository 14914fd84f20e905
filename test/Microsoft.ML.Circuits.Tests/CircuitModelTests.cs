using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Circuits.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Tests;

[TestClass]
public sealed class CircuitModelTests
{
    static string TempFile(string name)
    {
        string folder = Path.Combine(Path.GetTempPath(), "circuits-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        return Path.Combine(folder, name);
    }

    static CircuitModel TrainedModel()
    {
        var description = new CircuitDescription { RegionGraph = RegionGraphKind.QuadGraph, Layer = LayerKind.CPS, Units = 3, FreezeMixing = MixingFreeze.AllButLast };
        var circuit = new TensorizedCircuit(description, seed: 4);
        var data = Datasets.Load("mnist");
        var small = new DatasetSplits("mnist", data.Train.Subset(Enumerable.Range(0, 256).ToList()), data.Valid.Subset(Enumerable.Range(0, 64).ToList()), data.Test.Subset(Enumerable.Range(0, 64).ToList()));
        var report = Trainer.Train(circuit, small, new TrainerOptions { BatchSize = 64, MaxEpochs = 1, LearningRate = 0.05 });
        return new CircuitModel(circuit, new ModelMetadata { Training = report });
    }

    [TestMethod]
    public void ASavedModelReloadsWithIdenticalLogLikelihoods()
    {
        using var model = TrainedModel();
        string path = TempFile("model.circuit");
        model.SaveFile(path);
        using var loaded = CircuitModel.LoadFile(path);
        Assert.AreEqual(model.Description, loaded.Description);
        Assert.AreEqual(model.Metadata.Training!.TestBitsPerDimension, loaded.Metadata.Training!.TestBitsPerDimension);
        Assert.HasCount(model.Metadata.Training.History.Count, loaded.Metadata.Training.History);
        var test = Datasets.Load("mnist").Test;
        using var x = test.Batch(0, 100);
        using var _ = torch.no_grad();
        using var a = model.Circuit.LogLikelihood(x);
        using var b = loaded.Circuit.LogLikelihood(x);
        CollectionAssert.AreEqual(a.data<float>().ToArray(), b.data<float>().ToArray());
    }

    [TestMethod]
    public void CorruptTruncatedAndForeignFilesAreRejected()
    {
        using var model = TrainedModel();
        string path = TempFile("model.circuit");
        model.SaveFile(path);
        byte[] good = File.ReadAllBytes(path);

        var flipped = (byte[])good.Clone();
        flipped[good.Length / 2] ^= 0x40;
        File.WriteAllBytes(path, flipped);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => CircuitModel.LoadFile(path)).Message, "checksum");

        File.WriteAllBytes(path, good[..(good.Length - 1000)]);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => CircuitModel.LoadFile(path)).Message, "truncated");

        File.WriteAllText(path, "PK\u0003\u0004 this is some other file");
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => CircuitModel.LoadFile(path)).Message, "not a circuit model");

        var newer = (byte[])good.Clone();
        newer[10] = 99;
        File.WriteAllBytes(path, newer);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => CircuitModel.LoadFile(path)).Message, "format version 99");
    }

    [TestMethod]
    public void SavingNeverLeavesAHalfWrittenFileAndCanRefuseToOverwrite()
    {
        using var model = TrainedModel();
        string path = TempFile("model.circuit");
        model.SaveFile(path);
        byte[] before = File.ReadAllBytes(path);
        Assert.ThrowsExactly<IOException>(() => model.SaveFile(path, overwrite: false));
        Assert.ThrowsExactly<InvalidOperationException>(() => AtomicFile.Write(path, s => { s.Write(new byte[100]); throw new InvalidOperationException("crash"); }));
        CollectionAssert.AreEqual(before, File.ReadAllBytes(path));
        Assert.HasCount(1, Directory.GetFiles(Path.GetDirectoryName(path)!));
    }
}
