using Microsoft.ML.Circuits.Structure;
using static Microsoft.ML.Circuits.Tests.TinyCircuits;

namespace Microsoft.ML.Circuits.Tests.Structure;

/// <summary>The layer specs are the single description of every layer: the modules built from them match them exactly.</summary>
[TestClass]
public sealed class LayerSpecTests
{
    public static IEnumerable<object[]> Combinations() => SupportedCombinations().Select(c => new object[] { c.Item1, c.Item2 });

    [TestMethod]
    [DynamicData(nameof(Combinations))]
    public void EveryStateTensorHasTheNameAndShapeOfItsSpec(RegionGraphKind graph, LayerKind layer)
    {
        foreach (var freeze in Enum.GetValues<MixingFreeze>())
        {
            var description = Tiny(graph, layer, 4, 2, 2, 3, freeze: freeze);
            using var circuit = new TensorizedCircuit(description, seed: 1);
            var state = circuit.state_dict();
            var specs = circuit.Spec.AllParameters().ToDictionary(p => p.Key, p => p.Parameter);
            CollectionAssert.AreEquivalent(specs.Keys.ToList(), state.Keys.ToList(), $"{description}: state keys vs spec keys");
            foreach (var (key, spec) in specs)
                CollectionAssert.AreEqual(spec.Shape.ToArray(), state[key].shape, $"{description}: {key}");
            var trainable = circuit.named_parameters().Select(p => p.name).ToHashSet();
            foreach (var (key, spec) in specs)
                Assert.AreEqual(!spec.Frozen, trainable.Contains(key), $"{description}: {key} frozen = {spec.Frozen}");
            Assert.AreEqual(circuit.ParameterCount.Trainable, circuit.parameters().Sum(p => p.numel()), $"{description}: trainable count");
        }
    }

    [TestMethod]
    public void SpecsNameTheKindSharingAndNormalisedAxesOfEachLayer()
    {
        var description = Tiny(RegionGraphKind.QuadGraph, LayerKind.CPS, 4, 2, 1, 3);
        var spec = CircuitSpec.Build(CircuitPlanner.Build(description), description);
        var first = spec.Layers[0];
        Assert.AreEqual(LayerSpecKind.CPS, first.Kind);
        var weight = first.Parameter("weight");
        Assert.IsTrue(weight.SharedAcrossFolds);
        CollectionAssert.AreEqual(new long[] { first.Arity, first.InputUnits, first.OutputUnits }, weight.Shape.ToArray());
        CollectionAssert.AreEqual(new[] { 1 }, weight.NormalizedAxes.ToArray());
        Assert.AreEqual(ParameterRole.Scale, first.Parameter("scale").Role);
        Assert.IsTrue(spec.Layers.Where(l => l.Plan.Role == FoldedLayerRole.Mixing).All(l => l.Kind == LayerSpecKind.Mixing && l.Parameters.Single().Frozen));
        CollectionAssert.AreEqual(new[] { 2 }, spec.Input.Logits.NormalizedAxes.ToArray());
        Assert.ThrowsExactly<ArgumentException>(() => first.Parameter("nope"));
    }

    [TestMethod]
    public void ACircuitRefusesAPlanOfAnotherRegionGraphWithTheSameSizes()
    {
        var quadGraph = Tiny(RegionGraphKind.QuadGraph, LayerKind.CP, 4, 2, 1, 3);
        var poonDomingos = quadGraph with { RegionGraph = RegionGraphKind.PoonDomingos };
        var plan = CircuitPlanner.Build(poonDomingos);
        Assert.AreEqual(quadGraph.Variables, plan.Variables);
        Assert.AreEqual(quadGraph.Units, plan.Units);
        var e = Assert.ThrowsExactly<ArgumentException>(() => new TensorizedCircuit(quadGraph, plan));
        StringAssert.Contains(e.Message, "was not built for");
        using var fine = new TensorizedCircuit(quadGraph, CircuitPlanner.Build(quadGraph));
        Assert.AreNotEqual(CircuitPlanner.Build(quadGraph).Fingerprint, plan.Fingerprint);
    }

    [TestMethod]
    public void CategoriesAreCappedAtTheByteRange()
    {
        var d = new CircuitDescription { Categories = 257 };
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => d.Validate());
        StringAssert.Contains(e.Message, "2..256");
        Assert.AreEqual(256, (d with { Categories = 256 }).Validate().Categories);
    }
}
