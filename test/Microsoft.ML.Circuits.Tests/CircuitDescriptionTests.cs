using Microsoft.ML.Circuits.Structure;
using static Microsoft.ML.Circuits.Tests.TinyCircuits;

namespace Microsoft.ML.Circuits.Tests;

[TestClass]
public sealed class CircuitDescriptionTests
{
    static void AssertRejected(CircuitDescription description, string option, string range)
    {
        var e = Assert.Throws<ArgumentException>(() => CircuitPlanner.Build(description));
        Assert.AreEqual(option, e.ParamName, e.Message);
        StringAssert.Contains(e.Message, range);
    }

    [TestMethod]
    public void BadOptionsNameTheOptionAndTheAllowedRange()
    {
        var ok = new CircuitDescription();
        AssertRejected(ok with { Units = 0 }, "Units", "1..65536");
        AssertRejected(ok with { Units = -3 }, "Units", "1..65536");
        AssertRejected(ok with { InputUnits = 0 }, "InputUnits", "1..65536");
        AssertRejected(ok with { Layer = LayerKind.UncollapsedCP, Rank = 0 }, "Rank", "1..65536");
        AssertRejected(ok with { Layer = LayerKind.UncollapsedCP, Rank = null }, "Rank", "1..65536");
        AssertRejected(ok with { ImageHeight = 0 }, "ImageHeight", "1..4096");
        AssertRejected(ok with { Channels = 0 }, "Channels", "1..16");
        AssertRejected(ok with { Categories = 1 }, "Categories", "2..256");
        AssertRejected(ok with { ImageHeight = 1, ImageWidth = 1 }, "ImageHeight", "at least 2 pixels");
        AssertRejected(ok with { RegionGraph = RegionGraphKind.PoonDomingos, ImageHeight = 4, ImageWidth = 3 }, "delta", "delta 4");
        AssertRejected(ok with { Replicas = 4 }, "Replicas", "random binary tree");
        AssertRejected(ok with { RegionGraph = RegionGraphKind.QuadTree, Layer = LayerKind.Tucker }, "layer", "arity 2");
    }

    [TestMethod]
    public void PixelValuesOutsideTheCategoryRangeAreRejected()
    {
        var description = Tiny(RegionGraphKind.QuadGraph, LayerKind.CP, 2, 2, 1, 4);
        using var circuit = new TensorizedCircuit(description);
        using var high = TorchSharp.torch.full([1, 4, 1], 4L);
        var e = Assert.Throws<ArgumentException>(() => circuit.LogLikelihood(high));
        StringAssert.Contains(e.Message, "0..3");
        StringAssert.Contains(e.Message, "found 4");
        using var negative = TorchSharp.torch.full([1, 4, 1], -1L);
        Assert.Throws<ArgumentException>(() => circuit.LogLikelihood(negative));
        using var wrongShape = TorchSharp.torch.zeros([1, 5, 1], TorchSharp.torch.ScalarType.Int64);
        StringAssert.Contains(Assert.Throws<ArgumentException>(() => circuit.LogLikelihood(wrongShape)).Message, "D=4");
        using var floats = TorchSharp.torch.zeros([1, 4, 1]);
        StringAssert.Contains(Assert.Throws<ArgumentException>(() => circuit.LogLikelihood(floats)).Message, "int64");
    }

    [TestMethod]
    public void JsonRoundTripsEveryField()
    {
        var description = new CircuitDescription
        {
            ImageHeight = 12, ImageWidth = 10, Channels = 3, Categories = 17, RegionGraph = RegionGraphKind.RandomBinaryTree,
            TreeDepth = 3, Replicas = 4, TreeSeed = 9, Layer = LayerKind.UncollapsedCP, Units = 5, InputUnits = 5, Rank = 2,
            Reparameterization = Reparameterization.Softmax, FreezeMixing = MixingFreeze.AllButLast, PoonDomingosDelta = 2,
        };
        Assert.AreEqual(description, CircuitDescription.FromJson(description.ToJson()));
        StringAssert.Contains(description.ToJson(), "\"RandomBinaryTree\"");
    }

    [TestMethod]
    public void CorruptOrForeignJsonIsRejectedClearly()
    {
        StringAssert.Contains(Assert.Throws<InvalidDataException>(() => CircuitDescription.FromJson("{not json")).Message, "not valid JSON");
        var units = Assert.Throws<InvalidDataException>(() => CircuitDescription.FromJson("{\"Units\": 0}")).Message;
        StringAssert.Contains(units, "invalid");
        StringAssert.Contains(units, "Units");
        StringAssert.Contains(Assert.Throws<InvalidDataException>(() => CircuitDescription.FromJson("{\"Unknown\": 1}")).Message, "Unknown");
    }

    [TestMethod]
    public void CliNamesParseCaseInsensitively()
    {
        Assert.AreEqual(RegionGraphKind.QuadGraph, Names.ParseRegionGraph("qg"));
        Assert.AreEqual(RegionGraphKind.QuadTree, Names.ParseRegionGraph("QT"));
        Assert.AreEqual(RegionGraphKind.QuadTree2, Names.ParseRegionGraph("Qt2"));
        Assert.AreEqual(RegionGraphKind.PoonDomingos, Names.ParseRegionGraph("pd"));
        Assert.AreEqual(LayerKind.CPS, Names.ParseLayer("CP-S"));
        Assert.AreEqual(LayerKind.CPXS, Names.ParseLayer("cp-xs"));
        Assert.AreEqual(LayerKind.Tucker, Names.ParseLayer("Tucker"));
        Assert.AreEqual(MixingFreeze.AllButLast, Names.ParseMixingFreeze("not_last"));
        StringAssert.Contains(Assert.Throws<ArgumentException>(() => Names.ParseLayer("cpx")).Message, "cp-xs");
        Assert.Throws<ArgumentException>(() => Names.ParseRegionGraph("1"));
    }
}
