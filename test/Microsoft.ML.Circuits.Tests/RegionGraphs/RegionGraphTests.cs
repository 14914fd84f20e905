using Microsoft.ML.Circuits.RegionGraphs;
using Microsoft.ML.Circuits.Structure;

namespace Microsoft.ML.Circuits.Tests.RegionGraphs;

[TestClass]
public sealed class RegionGraphTests
{
    [TestMethod]
    public void QuadTreeFourWayOn28x28HasThePapersTotals()
    {
        var graph = QuadTree.CreateFourWay(28, 28);
        Assert.AreEqual(1049, graph.Regions.Length);
        Assert.AreEqual(784, graph.InputRegions.Count());
        Assert.AreEqual(265, graph.Partitions.Length);
        Assert.AreEqual(259, graph.Partitions.Count(p => p.Inputs.Length == 4));
        Assert.AreEqual(6, graph.Partitions.Count(p => p.Inputs.Length == 2));
        Assert.AreEqual(0, graph.Regions.Count(r => r.Partitions.Length > 1));
        Assert.IsTrue(graph.IsStructuredDecomposable);
    }

    [TestMethod]
    public void QuadGraphOn28x28HasThePapersTotals()
    {
        var graph = QuadGraph.Create(28, 28);
        Assert.AreEqual(2085, graph.Regions.Length);
        Assert.AreEqual(784, graph.InputRegions.Count());
        Assert.AreEqual(1560, graph.Partitions.Length);
        Assert.IsTrue(graph.Partitions.All(p => p.Inputs.Length == 2));
        Assert.AreEqual(259, graph.Regions.Count(r => r.Partitions.Length == 2));
    }

    [TestMethod]
    public void PoonDomingosOn28x28HasThePapersTotals()
    {
        var graph = PoonDomingos.Create(28, 28, delta: 4);
        Assert.AreEqual(784, graph.Regions.Length);
        Assert.AreEqual(49, graph.InputRegions.Count());
        Assert.IsTrue(graph.InputRegions.All(r => r.Scope.Length == 16));
        Assert.AreEqual(3136, graph.Partitions.Length);
        Assert.AreEqual(651, graph.Regions.Count(r => r.Partitions.Length > 1));
        Assert.AreEqual(12, graph.Root.Partitions.Length);
    }

    [TestMethod]
    public void QuadTreeBinaryOn28x28IsABinaryTree()
    {
        var graph = QuadTree.CreateBinary(28, 28);
        Assert.AreEqual(1567, graph.Regions.Length);
        Assert.AreEqual(783, graph.Partitions.Length);
        Assert.IsTrue(graph.IsStructuredDecomposable);
    }

    [TestMethod]
    public void VariablesArePixelsInRowMajorOrder()
    {
        var graph = QuadTree.CreateFourWay(2, 3);
        // The first 2x2 block holds pixels (0,0),(0,1),(1,0),(1,1) = variables 0,1,3,4.
        var block = graph.Partitions.Single(p => p.Inputs.Length == 4);
        CollectionAssert.AreEqual(new[] { 0, 1, 3, 4 }, graph.Regions[block.Output].Scope.ToArray());
        Assert.AreEqual(6, graph.Root.Scope.Length);
    }

    [TestMethod]
    [DataRow(4, 2)]
    [DataRow(1, 5)]
    [DataRow(3, 7)]
    [DataRow(2, 2)]
    public void QuadConstructionsCoverNonSquareImages(int height, int width)
    {
        foreach (var graph in new[] { QuadTree.CreateFourWay(height, width), QuadTree.CreateBinary(height, width), QuadGraph.Create(height, width) })
        {
            Assert.AreEqual(height * width, graph.Root.Scope.Length);
            Assert.AreEqual(height * width, graph.InputRegions.Count());
        }
    }

    [TestMethod]
    public void PoonDomingosSharesRegionsByScope()
    {
        var graph = PoonDomingos.Create(3, 3, delta: 1);
        var scopes = graph.Regions.Select(r => string.Join(',', r.Scope)).ToList();
        Assert.AreEqual(scopes.Count, scopes.Distinct().Count());
        // A 3x3 grid has 36 sub-rectangles.
        Assert.AreEqual(36, graph.Regions.Length);
        Assert.AreEqual(9, graph.InputRegions.Count());
    }

    [TestMethod]
    public void RandomBinaryTreeIsDeterministicAndUsesOneReplicaPerRepetition()
    {
        var a = RandomBinaryTree.Create(10, depth: 2, repetitions: 3, seed: 7);
        var b = RandomBinaryTree.Create(10, depth: 2, repetitions: 3, seed: 7);
        var c = RandomBinaryTree.Create(10, depth: 2, repetitions: 3, seed: 8);
        string Signature(RegionGraph g) => string.Join(';', g.Regions.Select(r => string.Join(',', r.Scope)));
        Assert.AreEqual(Signature(a), Signature(b));
        Assert.AreNotEqual(Signature(a), Signature(c));
        Assert.AreEqual(3, a.Root.Partitions.Length);
        Assert.AreEqual(3, a.Replicas);
        // Depth 2 on 10 variables: leaves of 2 or 3 variables, 4 per repetition.
        Assert.AreEqual(12, a.InputRegions.Count());
        Assert.IsTrue(a.InputRegions.All(r => r.Scope.Length is 2 or 3));
        Assert.AreEqual(784, RandomBinaryTree.Create(784).InputRegions.Count());
    }

    [TestMethod]
    public void TooSmallImagesAreRejectedWithTheReason()
    {
        var pd = Assert.ThrowsExactly<ArgumentException>(() => PoonDomingos.Create(3, 3, delta: 4));
        StringAssert.Contains(pd.Message, "delta 4");
        Assert.AreEqual("delta", pd.ParamName);
        var qt = Assert.ThrowsExactly<ArgumentException>(() => QuadGraph.Create(1, 1));
        StringAssert.Contains(qt.Message, "too small");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => QuadTree.CreateFourWay(0, 4));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => RandomBinaryTree.Create(1));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => RandomBinaryTree.Create(8, depth: 0));
    }
}
