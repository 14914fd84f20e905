using Microsoft.ML.Circuits.Layers;
using Microsoft.ML.Circuits.Queries;
using Microsoft.ML.Circuits.Semirings;
using Microsoft.ML.Circuits.Structure;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Tests.Layers;

/// <summary>
/// A mixing layer whose folds have different numbers of partitions (padded slots). No region graph of the paper
/// produces one today (QG and PD mix exactly two partitions per region), so the layer is built from a hand-made spec:
/// two folds of arity 3, the second with only two real slots (its third slot reads the padding row, log 1 = 0). Checked
/// against a float64 reference over the real slots for every reparameterisation and both semirings, and the top-down
/// pass never chooses the padded slot even when the real slots are far less likely than log 1.
/// </summary>
[TestClass]
public sealed class PaddedMixingTests
{
    const int Units = 4, Batch = 5;

    static MixingLayer Build(Reparameterization reparameterization, bool frozen)
    {
        // Sources: one source of 5 folds; fold 0 mixes rows 0, 1, 2; fold 1 mixes rows 3, 4 and the padding row (5).
        var plan = new FoldedLayerPlan(0, FoldedLayerRole.Mixing, folds: 2, arity: 3, inputUnits: Units, outputUnits: Units,
            sources: [0], sourceFolds: [5], gather: [0, 1, 2, 3, 4, 5], mask: [true, true, true, true, true, false],
            foldArity: [3, 2], nodes: [0, 1]);
        var spec = new LayerSpec(plan, LayerSpecKind.Mixing, null,
            [new ParameterSpec("weight", [2, 3, Units], ParameterRole.Mixing, false, [1], frozen)]);
        using var generator = new Generator(3, torch.CPU);
        return (MixingLayer)LayerFactory.Create(spec, reparameterization, generator, torch.CPU);
    }

    [TestMethod]
    [DataRow(Reparameterization.Clamp, false)]
    [DataRow(Reparameterization.Exp, false)]
    [DataRow(Reparameterization.Softmax, false)]
    [DataRow(Reparameterization.Clamp, true)]
    public void PaddedSlotsHaveNoWeightAndTakeNoPartInEitherSemiring(Reparameterization reparameterization, bool frozen)
    {
        using var scope = NewDisposeScope();
        using var _ = torch.no_grad();
        using var layer = Build(reparameterization, frozen);
        var w = layer.Weights().to(ScalarType.Float64);
        Assert.AreEqual(0.0, w[1, 2].abs().max().item<double>(), "the padded slot's weights are zero");
        if (reparameterization == Reparameterization.Softmax)
            Assert.AreEqual(1.0, w[1].sum([0L]).mean().item<double>(), 1e-6, "softmax normalises over the real slots only");

        using var g = new Generator(5, torch.CPU);
        var source = torch.randn([5, Batch, Units], ScalarType.Float32, generator: g).mul_(3);
        var gathered = layer.GatherInputs([source]);
        // The padded slot's gathered value is log 1 = 0 by construction; a layer that used it would add w·1.
        var x = source.to(ScalarType.Float64);
        foreach (var semiring in new[] { Semiring.LogSumExp, Semiring.MaxPlus })
        {
            var y = layer.Forward([source], semiring).to(ScalarType.Float64);
            for (int f = 0; f < 2; f++)
                for (int b = 0; b < Batch; b++)
                    for (int k = 0; k < Units; k++)
                    {
                        var rows = f == 0 ? new[] { 0, 1, 2 } : new[] { 3, 4 };
                        var terms = rows.Select((row, h) => Math.Log(w[f, h, k].item<double>()) + x[row, b, k].item<double>()).ToArray();
                        double expected = semiring == Semiring.MaxPlus ? terms.Max() : LogSumExp(terms);
                        Assert.AreEqual(expected, y[f, b, k].item<double>(), 1e-4, $"{semiring}, fold {f}, image {b}, unit {k}");
                    }
        }
        Assert.AreEqual(0.0, gathered[1, 2].abs().max().item<float>(), "the padding row holds log 1");
    }

    [TestMethod]
    public void TheTopDownPassNeverChoosesAPaddedSlot()
    {
        using var scope = NewDisposeScope();
        using var _ = torch.no_grad();
        using var layer = Build(Reparameterization.Exp, frozen: false);
        // The real slots of fold 1 are very unlikely (−50) and the padding row is log 1 = 0: were the padded slot's
        // weight only small rather than zero (exp of a clamped θ is 1e−19, log ≈ −44), it would win almost always.
        var source = torch.zeros([5, 2000, Units]);
        source[3].fill_(-50f);
        source[4].fill_(-50f);
        var x = layer.GatherInputs([source]);
        var unit = torch.randint(0, Units, [2, 2000], ScalarType.Int64);
        foreach (var chooser in new[] { UnitChooser.Argmax, UnitChooser.Gumbel(1, torch.CPU) })
        {
            var choice = layer.ChooseInputs(x, unit, Semiring.LogSumExp, chooser);
            Assert.IsTrue(choice[1, 2].eq(-1L).all().item<bool>(), "the padded slot was chosen");
            // Exactly one slot per fold and image carries the unit.
            Assert.IsTrue(choice.ne(-1L).sum(1).eq(1L).all().item<bool>());
        }
    }

    static double LogSumExp(double[] terms)
    {
        double max = terms.Max();
        return max + Math.Log(terms.Sum(t => Math.Exp(t - max)));
    }
}
