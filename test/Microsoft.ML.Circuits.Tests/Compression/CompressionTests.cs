using System.Globalization;
using Microsoft.ML.Circuits.Compression;
using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Circuits.Tests.MLNet;
using Microsoft.ML.Circuits.Training;
using Microsoft.ML.Data;
using TorchSharp;
using static TorchSharp.torch;
using static Microsoft.ML.Circuits.Tests.TinyCircuits;

namespace Microsoft.ML.Circuits.Tests.Compression;

[TestClass]
public sealed class CompressionTests
{
    static Tensor LowRankTensor(int folds, int i, int j, int o, int rank, ulong seed)
    {
        using var g = new Generator(seed, torch.CPU);
        using var a = torch.rand([folds, i, rank], generator: g);
        using var b = torch.rand([folds, j, rank], generator: g);
        using var c = torch.rand([folds, o, rank], generator: g);
        return torch.einsum("fir,fjr,for->fijo", a, b, c);
    }

    [TestMethod]
    [DataRow(1)]
    [DataRow(3)]
    public void AnExactlyRankRNonNegativeTensorIsRecovered(int rank)
    {
        using var w = LowRankTensor(4, 6, 6, 5, rank, 11);
        using var factors = NonNegativeCp.Decompose(w, rank);
        Assert.IsLessThan(1e-3, factors.RelativeError, $"relative error {factors.RelativeError} after {factors.Iterations} sweeps");
        Assert.IsTrue(factors.RelativeErrors.All(e => e < 1e-3));
        foreach (var factor in new[] { factors.A, factors.B, factors.C })
        {
            Assert.IsTrue(factor.isfinite().all().item<bool>());
            Assert.IsTrue(factor.ge(0).all().item<bool>());
        }
        using var reconstruction = factors.Reconstruct();
        Assert.IsLessThan(1e-3f, ((reconstruction - w).norm() / w.norm()).item<float>());
    }

    [TestMethod]
    public void ALowerRankGivesALargerButReportedError()
    {
        using var w = LowRankTensor(2, 5, 5, 4, 4, 3);
        using var exact = NonNegativeCp.Decompose(w, 4);
        using var truncated = NonNegativeCp.Decompose(w, 1);
        Assert.IsGreaterThan(exact.RelativeError, truncated.RelativeError);
        using var reconstruction = truncated.Reconstruct();
        double measured = ((reconstruction - w).norm() / w.norm()).item<float>();
        Assert.AreEqual(measured, truncated.RelativeError, 1e-4);
    }

    [TestMethod]
    public void NegativeOrNonFiniteInputsAreRejected()
    {
        using var negative = -torch.ones(1, 2, 2, 2);
        Assert.ThrowsExactly<ArgumentException>(() => NonNegativeCp.Decompose(negative, 1));
        using var nan = torch.full([1, 2, 2, 2], float.NaN);
        Assert.ThrowsExactly<ArgumentException>(() => NonNegativeCp.Decompose(nan, 1));
        using var ok = torch.ones(1, 2, 2, 2);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => NonNegativeCp.Decompose(ok, 0));
    }

    static CircuitModel TinyTucker(RegionGraphKind graph, MixingFreeze freeze, Reparameterization reparameterization = Reparameterization.Clamp)
    {
        var description = Tiny(graph, LayerKind.Tucker, 2, 2, 2, 3, units: 2, reparameterization: reparameterization, freeze: freeze);
        return new CircuitModel(new TensorizedCircuit(description, seed: 8));
    }

    [TestMethod]
    [DataRow(RegionGraphKind.QuadGraph, MixingFreeze.All)]
    [DataRow(RegionGraphKind.PoonDomingos, MixingFreeze.None)]
    [DataRow(RegionGraphKind.QuadTree2, MixingFreeze.All)]
    public void ACompressedCircuitIsStillNormalised(RegionGraphKind graph, MixingFreeze freeze)
    {
        using var tucker = TinyTucker(graph, freeze);
        foreach (int rank in new[] { 1, 3 })
        {
            using var compressed = TuckerCompression.Compress(tucker, rank);
            Assert.AreEqual(LayerKind.UncollapsedCP, compressed.Description.Layer);
            Assert.AreEqual(rank, compressed.Description.Rank);
            Assert.AreEqual(1.0, TotalProbability(compressed.Circuit), 1e-4);
        }
    }

    [TestMethod]
    [DataRow(Reparameterization.Clamp)]
    [DataRow(Reparameterization.Softmax)]
    public void CompressingAtAnExactRankLeavesLikelihoodsUnchanged(Reparameterization reparameterization)
    {
        using var tucker = TinyTucker(RegionGraphKind.QuadGraph, MixingFreeze.None, reparameterization);
        // K_in = 2, so R = K_in² = 4 admits an exact decomposition of every core.
        using var compressed = TuckerCompression.Compress(tucker, 4);
        Assert.IsTrue(compressed.Metadata.Compression!.RelativeErrors.All(e => e < 1e-6));
        using var x = AllImages(tucker.Description);
        using var _ = torch.no_grad();
        using var before = tucker.Circuit.LogLikelihood(x);
        using var after = compressed.Circuit.LogLikelihood(x);
        Assert.IsLessThan(1e-3f, (before - after).abs().max().item<float>());
    }

    [TestMethod]
    public void OnATrainedLayerTheCompressionErrorFallsWithTheRankAndVanishesAtFullRank()
    {
        using var tucker = TinyTucker(RegionGraphKind.QuadGraph, MixingFreeze.All);
        var layer = tucker.Circuit.Layers.OfType<Microsoft.ML.Circuits.Layers.TuckerLayer>().First().parameters().First();
        using var initial = layer.detach().clone();
        using (var step = new TrainingStep(tucker.Circuit, new TrainerOptions { LearningRate = 0.05 }))
        using (var x = RandomImages(tucker.Description, 32, seed: 6))
            for (int i = 0; i < 10; i++) Assert.IsNull(step.Run(x, 0.05).NonFinite);
        Assert.IsFalse(layer.detach().allclose(initial), "the Tucker layer was not trained");

        using var one = TuckerCompression.Compress(tucker, 1);
        using var three = TuckerCompression.Compress(tucker, 3);
        using var full = TuckerCompression.Compress(tucker, 4); // K_in² = 4: the exact construction
        var e1 = one.Metadata.Compression!.RelativeErrors;
        var e3 = three.Metadata.Compression!.RelativeErrors;
        var e4 = full.Metadata.Compression!.RelativeErrors;
        Assert.HasCount(tucker.Circuit.Layers.Count(l => l is Microsoft.ML.Circuits.Layers.TuckerLayer), e1);
        for (int i = 0; i < e1.Count; i++)
        {
            Assert.IsLessThanOrEqualTo(e1[i] + 1e-6, e3[i]);
            Assert.IsGreaterThan(1e-3, e1[i], $"layer {i}: a trained 2×2 core is not of rank 1");
            Assert.IsLessThan(1e-5, e4[i], $"layer {i}: rank K_in² must be exact");
        }
    }

    [TestMethod]
    public void NonTuckerModelsAreRefusedWithAClearMessage()
    {
        using var cp = new CircuitModel(new TensorizedCircuit(Tiny(RegionGraphKind.QuadGraph, LayerKind.CP, 2, 2, 1, 3)));
        var e = Assert.ThrowsExactly<ArgumentException>(() => TuckerCompression.Compress(cp, 2));
        StringAssert.Contains(e.Message, "Only circuits with Tucker layers");
        StringAssert.Contains(e.Message, "cp layers");
        using var tucker = TinyTucker(RegionGraphKind.QuadGraph, MixingFreeze.All);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => TuckerCompression.Compress(tucker, 0));
    }

    [TestMethod]
    public void ACompressedTransformerSavesAndLoadsInAFreshProcessWithIdenticalOutputs()
    {
        var ml = new MLContext(seed: 2);
        var data = ml.Data.LoadFromEnumerable(MLNetData.Digits(MLNetData.Train, 256));
        using var tucker = MLNetData.FitSmallTucker(ml, data, epochs: 1);
        using var compressed = tucker.CompressTucker(2);
        Assert.AreEqual(LayerKind.UncollapsedCP, compressed.Description.Layer);
        Assert.IsNotNull(compressed.CompressionReport);

        string folder = MLNetData.TempFolder();
        string zip = Path.Combine(folder, "rank_2.zip");
        ml.Model.Save(compressed, data.Schema, zip);
        var lines = MLNet.ProbabilisticCircuitEstimatorTests.RunModelLoadCheck(zip, MLNetData.WriteTestImages(folder, 30), 30);
        var expected = MLNetData.Column(compressed.Transform(ml.Data.LoadFromEnumerable(MLNetData.FlatDigits(30))), "LogLikelihood");
        var reloaded = lines.Where(l => l.StartsWith("transform ")).Select(l => float.Parse(l.Split(' ')[1], CultureInfo.InvariantCulture)).ToArray();
        CollectionAssert.AreEqual(expected, reloaded);
    }

    [TestMethod]
    public void FineTuningStartsFromTheCompressedModelAndKeepsItsLineage()
    {
        var ml = new MLContext(seed: 2);
        var data = ml.Data.LoadFromEnumerable(MLNetData.Digits(MLNetData.Train, 512));
        using var tucker = MLNetData.FitSmallTucker(ml, data, epochs: 2);
        using var compressed = tucker.CompressTucker(2);
        var before = compressed.Transform(data).GetColumn<float>("BitsPerDimension").Average();
        var finetune = MLNetData.SmallOptions();
        finetune.InitialModel = compressed;
        finetune.MaxEpochs = 2;
        using var tuned = ml.Transforms.ProbabilisticCircuit(finetune).Fit(data);
        var after = tuned.Transform(data).GetColumn<float>("BitsPerDimension").Average();
        Assert.AreEqual(compressed.Description, tuned.Description);
        Assert.IsNotNull(tuned.CompressionReport);
        Assert.IsNotNull(tuned.TrainingReport);
        Assert.IsLessThan(before, after, $"fine-tuning went from {before} to {after} bpd");
        // The initial transformer is not modified by fine-tuning.
        Assert.AreEqual(before, compressed.Transform(data).GetColumn<float>("BitsPerDimension").Average());
    }
}
