using Microsoft.ML.Circuits.RegionGraphs;
using Microsoft.ML.Circuits.Structure;

namespace Microsoft.ML.Circuits.Tests.Structure;

[TestClass]
public sealed class CircuitPlanTests
{
    static int[] Folds(CircuitPlan plan, FoldedLayerRole role) => plan.Layers.Where(l => l.Role == role).Select(l => l.Folds).ToArray();

    static CircuitPlan Plan(RegionGraph graph, LayerKind layer = LayerKind.CP) => CircuitPlanner.Build(graph, 8, 8, layer);

    [TestMethod]
    public void QuadTreeFourWayFoldsTopDown()
    {
        var plan = Plan(QuadTree.CreateFourWay(28, 28));
        CollectionAssert.AreEqual(new[] { 192, 52, 16, 4, 1 }, Folds(plan, FoldedLayerRole.SumProduct));
        Assert.AreEqual(0, Folds(plan, FoldedLayerRole.Mixing).Length);
        Assert.IsTrue(plan.Layers.All(l => l.Arity == 4));
        Assert.AreEqual(784, plan.InputRegions.Length);
    }

    [TestMethod]
    public void QuadGraphFoldsTopDownWithMixing()
    {
        var plan = Plan(QuadGraph.Create(28, 28));
        CollectionAssert.AreEqual(new[] { 576, 480, 256, 128, 64, 26, 16, 8, 4, 2 }, Folds(plan, FoldedLayerRole.SumProduct));
        // Mixing folds per region-graph layer: [0, 144, 48, 40, 12, 10, 0, 4, 0, 1].
        CollectionAssert.AreEqual(new[] { 144, 48, 40, 12, 10, 4, 1 }, Folds(plan, FoldedLayerRole.Mixing));
        Assert.IsTrue(plan.Layers.All(l => l.Arity == 2));
    }

    [TestMethod]
    public void PoonDomingosFoldsTopDownWithPaddedMixing()
    {
        var plan = Plan(PoonDomingos.Create(28, 28));
        CollectionAssert.AreEqual(new[] { 84, 212, 348, 460, 520, 504, 392, 280, 180, 100, 44, 12 }, Folds(plan, FoldedLayerRole.SumProduct));
        CollectionAssert.AreEqual(new[] { 106, 116, 115, 104, 84, 56, 35, 20, 10, 4, 1 }, Folds(plan, FoldedLayerRole.Mixing));
        CollectionAssert.AreEqual(new[] { 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 },
            plan.Layers.Where(l => l.Role == FoldedLayerRole.Mixing).Select(l => l.Arity).ToArray());
        // Regions of one top-down layer all have the same number of cuts here, so no mixing layer is padded.
        Assert.IsFalse(plan.Layers.Any(l => l.IsPadded));
    }

    [TestMethod]
    public void BinaryPartitionsAmongFourWayOnesArePaddedAndMasked()
    {
        var plan = Plan(QuadTree.CreateFourWay(28, 28));
        var padded = plan.Layers.Where(l => l.IsPadded).ToList();
        Assert.AreEqual(6, padded.Sum(l => l.FoldArity.Count(a => a == 2)));
        foreach (var layer in padded)
            for (int i = 0; i < layer.Gather.Length; i++)
                Assert.AreEqual(!layer.Mask[i], layer.Gather[i] == layer.PaddingIndex);
    }

    [TestMethod]
    public void QuadTreeBinaryFoldsTopDown()
    {
        var plan = Plan(QuadTree.CreateBinary(28, 28));
        CollectionAssert.AreEqual(new[] { 288, 240, 128, 64, 32, 16, 8, 4, 2, 1 }, Folds(plan, FoldedLayerRole.SumProduct));
    }

    [TestMethod]
    public void LastLayerOutputsOneUnitAndEveryOtherOutputsK()
    {
        var plan = Plan(QuadGraph.Create(28, 28));
        Assert.AreEqual(1, plan.Layers[^1].OutputUnits);
        Assert.AreEqual(1, plan.Layers[^1].Folds);
        Assert.AreEqual(1, plan.Layers[^2].OutputUnits);
        Assert.IsTrue(plan.Layers.Take(plan.Layers.Length - 2).All(l => l.OutputUnits == 8));
    }

    [TestMethod]
    public void PlansAreDeterministic()
    {
        var a = Plan(PoonDomingos.Create(12, 12));
        var b = Plan(PoonDomingos.Create(12, 12));
        Assert.AreEqual(a.Layers.Length, b.Layers.Length);
        for (int i = 0; i < a.Layers.Length; i++)
        {
            CollectionAssert.AreEqual(a.Layers[i].Gather.ToArray(), b.Layers[i].Gather.ToArray());
            CollectionAssert.AreEqual(a.Layers[i].Sources.ToArray(), b.Layers[i].Sources.ToArray());
        }
    }

    [TestMethod]
    public void TuckerRefusesPartitionsOfArityOtherThanTwo()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => Plan(QuadTree.CreateFourWay(28, 28), LayerKind.Tucker));
        StringAssert.Contains(e.Message, "arity 2");
        StringAssert.Contains(e.Message, "arity 4");
    }

    [TestMethod]
    public void DifferentInputUnitsAreRefusedWhereALayerMixesInputAndInnerRegions()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => CircuitPlanner.Build(QuadGraph.Create(28, 28), 8, 4, LayerKind.CP));
        Assert.AreEqual("InputUnits", e.ParamName);
        // On a 4x4 quad tree every input region sits in the first layer, so K_in may differ from K.
        var plan = CircuitPlanner.Build(QuadTree.CreateFourWay(4, 4), 8, 4, LayerKind.CP);
        Assert.AreEqual(4, plan.Layers[0].InputUnits);
        Assert.AreEqual(8, plan.Layers[1].InputUnits);
    }
}
