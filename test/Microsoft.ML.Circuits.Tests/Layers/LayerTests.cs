using Microsoft.ML.Circuits.Layers;
using Microsoft.ML.Circuits.Semirings;
using TorchSharp;
using static TorchSharp.torch;
using static Microsoft.ML.Circuits.Tests.TinyCircuits;

namespace Microsoft.ML.Circuits.Tests.Layers;

[TestClass]
public sealed class LayerTests
{
    [TestMethod]
    [DataRow(LayerKind.CP)]
    [DataRow(LayerKind.CPS)]
    [DataRow(LayerKind.CPXS)]
    [DataRow(LayerKind.Tucker)]
    [DataRow(LayerKind.UncollapsedCP)]
    public void AfterAClampStepNoInnerWeightIsBelowTheBound(LayerKind layer)
    {
        var description = Tiny(RegionGraphKind.QuadGraph, layer, 4, 4, 1, 4, freeze: MixingFreeze.None);
        using var circuit = new TensorizedCircuit(description, seed: 1);
        using var optimizer = torch.optim.Adam(circuit.parameters(), lr: 5.0);
        using var x = RandomImages(description, 16, seed: 3);
        for (int step = 0; step < 3; step++)
        {
            optimizer.zero_grad();
            using (var loss = -circuit.LogLikelihood(x).sum()) loss.backward();
            optimizer.step();
            circuit.ProjectParameters();
        }
        var inner = circuit.Layers.SelectMany(l => l.parameters()).ToList();
        Assert.IsNotEmpty(inner);
        foreach (var p in inner)
            Assert.IsGreaterThanOrEqualTo(Parameterization.ClampMinimum, p.min().item<float>());
        // A step of lr 5 drives some weights below zero before the projection: the projection is what keeps them valid.
        Assert.IsTrue(inner.Any(p => p.min().item<float>() == Parameterization.ClampMinimum), "no weight was clamped; the test would not notice a missing projection");
    }

    [TestMethod]
    public void GradientsAreFiniteForEveryLayerAndRegionGraph()
    {
        foreach (var (graph, layer) in SupportedCombinations())
        {
            var description = Tiny(graph, layer, 4, 4, 2, 5, freeze: MixingFreeze.None);
            using var circuit = new TensorizedCircuit(description, seed: 5);
            using var x = RandomImages(description, 8, seed: 9);
            using (var loss = -circuit.LogLikelihood(x).sum()) loss.backward();
            foreach (var (name, p) in circuit.named_parameters())
            {
                Assert.IsNotNull(p.grad, $"{description}: {name} has no gradient");
                Assert.IsTrue(p.grad.isfinite().all().item<bool>(), $"{description}: {name} has a non-finite gradient");
            }
        }
    }

    [TestMethod]
    public void LogMatMulOfAnAllNegativeInfinityVectorIsNegativeInfinityNotNaN()
    {
        using var x = torch.tensor(new[] { float.NegativeInfinity, float.NegativeInfinity, 0f, -1f }).view(2, 1, 2);
        using var w = torch.full([2, 2, 3], 0.5f);
        using var y = Semiring.LogSumExp.MatMul(x, w);
        Assert.IsTrue(y[0].isneginf().all().item<bool>());
        Assert.IsTrue(y[1].isfinite().all().item<bool>());
        Assert.AreEqual(MathF.Log(0.5f * (1 + MathF.Exp(-1))), y[1, 0, 0].item<float>(), 1e-6);
    }

    [TestMethod]
    public void AnImpossibleImageHasLogLikelihoodNegativeInfinityWithoutNaN()
    {
        var description = Tiny(RegionGraphKind.PoonDomingos, LayerKind.CP, 3, 3, 1, 3);
        using var circuit = new TensorizedCircuit(description, seed: 2);
        using (torch.no_grad())
            circuit.Input.Logits[0, 0, 1] = torch.tensor(float.NegativeInfinity);
        using var x = torch.ones([1, 9, 1], ScalarType.Int64);
        using var ll = circuit.LogLikelihood(x);
        Assert.IsTrue(ll.isneginf().all().item<bool>(), $"got {ll.item<float>()}");
    }

    [TestMethod]
    public void CpsScalesAndCpxsSharingHaveTheDocumentedShapes()
    {
        var description = Tiny(RegionGraphKind.QuadGraph, LayerKind.CPS, 4, 4, 1, 4);
        using var circuit = new TensorizedCircuit(description);
        var first = (ScaledSharedCpLayer)circuit.Layers[0];
        CollectionAssert.AreEqual(new long[] { first.Arity, first.InputUnits, first.OutputUnits }, first.Weight.shape);
        CollectionAssert.AreEqual(new long[] { first.Folds, first.OutputUnits }, first.Scale.shape);
        Assert.IsTrue(first.Scale.ge(0.9).all().item<bool>() && first.Scale.le(1.1).all().item<bool>());
        long counted = circuit.parameters().Sum(p => p.numel()) + circuit.Layers.OfType<MixingLayer>().Where(m => m.IsFrozen).Sum(m => m.Weights().numel());
        Assert.AreEqual(circuit.ParameterCount.Total, counted);
    }

    [TestMethod]
    public void ParameterTensorsHoldExactlyTheCountedParameters()
    {
        foreach (var (graph, layer) in SupportedCombinations())
        {
            var description = Tiny(graph, layer, 4, 4, 2, 5, freeze: MixingFreeze.AllButLast);
            using var circuit = new TensorizedCircuit(description);
            long trainable = circuit.parameters().Sum(p => p.numel());
            Assert.AreEqual(circuit.ParameterCount.Trainable, trainable, description.ToString());
        }
    }

    [TestMethod]
    public void FrozenMixingWeightsStayAtOneHalfThroughTraining()
    {
        var description = Tiny(RegionGraphKind.QuadGraph, LayerKind.CP, 4, 4, 1, 4);
        using var circuit = new TensorizedCircuit(description);
        var mixing = circuit.Layers.OfType<MixingLayer>().ToList();
        Assert.IsNotEmpty(mixing);
        Assert.IsTrue(mixing.All(m => m.IsFrozen && m.Weight is null));
        var inner = circuit.Layers.OfType<CpLayer>().First().parameters().First();
        using var before = inner.detach().clone();

        // Train: the trainer's own steps (Adam, clamp) on a fixed batch.
        using (var step = new Microsoft.ML.Circuits.Training.TrainingStep(circuit, new Microsoft.ML.Circuits.Training.TrainerOptions { LearningRate = 0.1 }))
        using (var x = RandomImages(description, 16, seed: 3))
            for (int i = 0; i < 5; i++) Assert.IsNull(step.Run(x, 0.1).NonFinite);

        Assert.IsFalse(inner.detach().allclose(before), "the inner layer did not change: nothing was trained");
        Assert.IsTrue(mixing.All(m => m.Weights().eq(0.5f).all().item<bool>()), "a frozen mixing weight moved");
    }
}
