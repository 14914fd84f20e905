using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Circuits.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Tests.Training;

[TestClass]
public sealed class TrainerTests
{
    static DatasetSplits SmallMnist(int train = 1024, int valid = 256, int test = 256)
    {
        var data = Datasets.Load("mnist");
        return new DatasetSplits("mnist-small", data.Train.Subset(Enumerable.Range(0, train).ToList()),
            data.Valid.Subset(Enumerable.Range(0, valid).ToList()), data.Test.Subset(Enumerable.Range(0, test).ToList()));
    }

    static readonly CircuitDescription SmallCircuit = new() { RegionGraph = RegionGraphKind.QuadTree, Layer = LayerKind.CP, Units = 4 };

    [TestMethod]
    public void AShortRunOnTheBundledSampleLowersValidationBitsPerDimension()
    {
        using var circuit = new TensorizedCircuit(SmallCircuit, seed: 1);
        var epochs = new List<EpochRecord>();
        var report = Trainer.Train(circuit, SmallMnist(), new TrainerOptions { LearningRate = 0.1, BatchSize = 64, MaxEpochs = 3, EpochCompleted = epochs.Add });
        Assert.HasCount(4, report.History);
        Assert.AreEqual(0, report.History[0].Epoch);
        double initial = report.History[0].ValidBitsPerDimension;
        Assert.IsLessThan(initial - 1.0, report.ValidBitsPerDimension, $"initial {initial:F3} bpd, after training {report.ValidBitsPerDimension:F3}");
        Assert.IsTrue(double.IsFinite(report.TestBitsPerDimension));
        Assert.AreEqual(3, report.Epochs);
        Assert.AreEqual("max-epochs", report.StopReason);
        CollectionAssert.AreEqual(report.History.ToList(), epochs);
        // The circuit holds the best epoch's weights: re-evaluating gives the reported validation LL.
        Assert.AreEqual(report.ValidLogLikelihood, Evaluation.MeanLogLikelihood(circuit, SmallMnist().Valid), 1e-3);
    }

    [TestMethod]
    public void EarlyStoppingStopsAfterPatienceEpochsWithoutImprovement()
    {
        using var circuit = new TensorizedCircuit(SmallCircuit, seed: 1);
        // A learning rate this large makes validation worse after the first epochs.
        var report = Trainer.Train(circuit, SmallMnist(256, 64, 0), new TrainerOptions { LearningRate = 3.0, BatchSize = 64, MaxEpochs = 50, Patience = 2 });
        Assert.AreEqual("patience", report.StopReason);
        Assert.AreEqual(report.BestEpoch + 2, report.Epochs);
        // Two epochs ran after the best one: the circuit must be back at the best epoch's weights.
        double last = report.History[^1].ValidLogLikelihood;
        Assert.AreNotEqual(report.ValidLogLikelihood, last, 1e-3, "the last epoch equals the best one: the restore is not tested");
        Assert.AreEqual(report.ValidLogLikelihood, Evaluation.MeanLogLikelihood(circuit, SmallMnist(256, 64, 0).Valid), 1e-3,
            "the circuit does not hold the best checkpoint after training");
        Assert.IsTrue(double.IsNaN(report.TestBitsPerDimension));
    }

    [TestMethod]
    public void ANaNInAWeightStopsTrainingAndRestoresTheLastGoodCheckpoint()
    {
        using var circuit = new TensorizedCircuit(SmallCircuit, seed: 1);
        Dictionary<string, float[]>? saved = null;
        var options = new TrainerOptions
        {
            LearningRate = 0.1, BatchSize = 64, MaxEpochs = 5,
            Improved = (c, e) => saved = c.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.data<float>().ToArray()),
            Progress = p =>
            {
                if (p.Epoch == 2 && p.Batch == 3)
                    using (torch.no_grad()) circuit.Layers[1].parameters().First()[0, 0, 0, 0] = torch.tensor(float.NaN);
            },
        };
        var e = Assert.ThrowsExactly<TrainingDivergedException>(() => Trainer.Train(circuit, SmallMnist(), options));
        StringAssert.Contains(e.Message, "epoch 2, batch 4");
        StringAssert.Contains(e.Message, "not finite");
        StringAssert.Contains(e.Message, "epoch 1");
        Assert.AreEqual(1, e.LastGoodEpoch);
        Assert.IsNotNull(saved);
        foreach (var (name, tensor) in circuit.state_dict())
            CollectionAssert.AreEqual(saved[name], tensor.data<float>().ToArray(), name);
    }

    [TestMethod]
    public void TheCosineScheduleWithT0OneIsConstantAndOtherwiseFollowsPyTorch()
    {
        var constant = new TrainerOptions { LearningRate = 0.01 };
        Assert.AreEqual(0.01, Trainer.CosineWarmRestarts(constant, 0), 1e-15);
        Assert.AreEqual(0.01, Trainer.CosineWarmRestarts(constant, 17), 1e-15);
        var cosine = new TrainerOptions { LearningRate = 0.1, T0 = 4, EtaMin = 0.0 };
        Assert.AreEqual(0.1, Trainer.CosineWarmRestarts(cosine, 0), 1e-15);
        Assert.AreEqual(0.05, Trainer.CosineWarmRestarts(cosine, 2), 1e-12);
        Assert.AreEqual(0.1, Trainer.CosineWarmRestarts(cosine, 4), 1e-15);
    }

    [TestMethod]
    public void ImpossibleOptionsAreRejectedByName()
    {
        using var circuit = new TensorizedCircuit(SmallCircuit);
        var data = SmallMnist(128, 32, 0);
        Assert.AreEqual("LearningRate", Assert.Throws<ArgumentException>(() => Trainer.Train(circuit, data, new TrainerOptions { LearningRate = 0 })).ParamName);
        Assert.AreEqual("BatchSize", Assert.Throws<ArgumentException>(() => Trainer.Train(circuit, data, new TrainerOptions { BatchSize = 0 })).ParamName);
        Assert.AreEqual("Patience", Assert.Throws<ArgumentException>(() => Trainer.Train(circuit, data, new TrainerOptions { Patience = 0 })).ParamName);
        StringAssert.Contains(Assert.Throws<ArgumentException>(() => Trainer.Train(circuit, data, new TrainerOptions { BatchSize = 1000 })).Message, "larger than the 128");
        using var wrongShape = new TensorizedCircuit(SmallCircuit with { ImageHeight = 14, ImageWidth = 14 });
        StringAssert.Contains(Assert.Throws<ArgumentException>(() => Trainer.Train(wrongShape, data, new TrainerOptions())).Message, "14×14×1");
    }
}
