using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Circuits.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Tests.Training;

[TestClass]
public sealed class CancellationAndSyncTests
{
    static readonly CircuitDescription SmallCircuit = new() { RegionGraph = RegionGraphKind.QuadTree, Layer = LayerKind.CP, Units = 2 };

    static DatasetSplits SmallMnist()
    {
        var data = Datasets.Load("mnist");
        return new DatasetSplits("mnist-small", data.Train.Subset(Enumerable.Range(0, 512).ToList()),
            data.Valid.Subset(Enumerable.Range(0, 128).ToList()), data.Test.Subset(Enumerable.Range(0, 128).ToList()));
    }

    [TestMethod]
    public void ATrainingStepSynchronisesWithTheHostOnceAndUpdatesTheWeights()
    {
        using var circuit = new TensorizedCircuit(SmallCircuit, seed: 1);
        using var step = new TrainingStep(circuit, new TrainerOptions { LearningRate = 0.1 });
        using var x = SmallMnist().Train.Batch(0, 32);
        using var before = circuit.Input.Logits.detach().clone();
        long version = circuit.ParameterVersion;
        for (int i = 0; i < 3; i++)
        {
            var (loss, bad) = step.Run(x, 0.1);
            Assert.IsNull(bad);
            Assert.IsTrue(loss > 0 && double.IsFinite(loss));
        }
        Assert.AreEqual(3, step.HostSyncs);
        Assert.IsFalse(circuit.Input.Logits.detach().allclose(before), "the step updated the weights");
        Assert.IsGreaterThan(version, circuit.ParameterVersion, "each step marks the parameters changed");
    }

    [TestMethod]
    public void ANonFiniteWeightStopsTheStepBeforeAnyUpdate()
    {
        using var circuit = new TensorizedCircuit(SmallCircuit, seed: 1);
        using var step = new TrainingStep(circuit, new TrainerOptions { LearningRate = 0.1 });
        using var x = SmallMnist().Train.Batch(0, 32);
        using (torch.no_grad()) circuit.Input.Logits[0, 0, 0, 0, 0] = torch.tensor(float.PositiveInfinity);
        using var layerBefore = circuit.Layers[0].parameters().First().detach().clone();
        var (_, bad) = step.Run(x, 0.1);
        Assert.AreEqual("the loss", bad, "an infinite logit makes the loss NaN, which is reported first");
        Assert.IsTrue(circuit.Layers[0].parameters().First().detach().allclose(layerBefore, rtol: 0, atol: 0), "nothing was updated");
    }

    [TestMethod]
    public void CancellingStopsAtTheNextStepAndKeepsTheBestCheckpoint()
    {
        using var circuit = new TensorizedCircuit(SmallCircuit, seed: 1);
        using var source = new CancellationTokenSource();
        var data = SmallMnist();
        int steps = 0;
        Dictionary<string, Tensor>? bestAfterEpoch1 = null;
        var report = Trainer.Train(circuit, data, new TrainerOptions
        {
            LearningRate = 0.1, BatchSize = 32, MaxEpochs = 50,
            Improved = (c, _) => { bestAfterEpoch1 ??= Trainer.Snapshot(c); },
            Progress = p => { steps++; if (p.Epoch == 2 && p.Batch == 3) source.Cancel(); },
        }, source.Token);
        Assert.AreEqual("cancelled", report.StopReason);
        Assert.AreEqual(1, report.Epochs, "the interrupted epoch does not count");
        Assert.AreEqual(16 + 3, steps, "no step runs after the one that cancelled");
        Assert.AreEqual(1, report.BestEpoch);
        Assert.IsTrue(double.IsNaN(report.TrainLogLikelihood) && double.IsNaN(report.TestLogLikelihood), "a cancelled run skips the final passes");
        Assert.IsNotNull(bestAfterEpoch1);
        foreach (var (name, tensor) in circuit.state_dict())
            Assert.IsTrue(tensor.allclose(bestAfterEpoch1[name], rtol: 0, atol: 0), $"{name} is the best checkpoint's");
        Assert.AreEqual(report.ValidLogLikelihood, Evaluation.MeanLogLikelihood(circuit, data.Valid), 1e-3);
        foreach (var t in bestAfterEpoch1.Values) t.Dispose();
    }

    [TestMethod]
    public void ValidationAfterTrainingSeesTheCurrentWeightsEvenWhenATransformerScoredTheCircuit()
    {
        var ml = new MLContext(seed: 1);
        var data = SmallMnist();
        var model = new CircuitModel(new TensorizedCircuit(SmallCircuit, seed: 1));
        using var transformer = ProbabilisticCircuitTransformer.FromModel(ml, model);
        var rows = ml.Data.LoadFromEnumerable(MLNet.MLNetData.Digits(data.Test, 64));
        float before = ml.Data.CreateEnumerable<MLNet.MLNetData.Scores>(transformer.Transform(rows), false).First().LogLikelihood;

        // Train the transformer's own circuit further: its evaluation must not reuse the transformer's tables.
        var report = Trainer.Train(transformer.Circuit, data, new TrainerOptions { LearningRate = 0.1, BatchSize = 32, MaxEpochs = 2 });
        using var x = data.Test.Batch(0, 64);
        using var fresh = transformer.Circuit.LogLikelihood(x);
        var evaluated = Evaluation.LogLikelihoods(transformer.Circuit, data.Test.Subset(Enumerable.Range(0, 64).ToList()));
        for (int i = 0; i < 64; i++) Assert.AreEqual(fresh[i].item<float>(), evaluated[i], 1e-2, $"evaluation of row {i} (no gradients) vs with gradients");
        Assert.AreNotEqual(report.History[0].ValidLogLikelihood, report.ValidLogLikelihood, "training changed the weights");

        // And the transformer itself scores with the new weights.
        var after = ml.Data.CreateEnumerable<MLNet.MLNetData.Scores>(transformer.Transform(rows), false).Select(s => s.LogLikelihood).ToArray();
        Assert.AreNotEqual(before, after[0]);
        for (int i = 0; i < 64; i++) Assert.AreEqual(fresh[i].item<float>(), after[i], 1e-2, $"row {i}");
    }
}
