using TorchSharp;
using static TorchSharp.torch;
using static Microsoft.ML.Circuits.Tests.TinyCircuits;

namespace Microsoft.ML.Circuits.Tests.Layers;

/// <summary>Exact checks by enumeration: every supported region graph × layer is a normalised distribution.</summary>
[TestClass]
public sealed class NormalisationTests
{
    public static IEnumerable<object[]> Combinations() => SupportedCombinations().Select(c => new object[] { c.Item1, c.Item2 });

    [TestMethod]
    [DynamicData(nameof(Combinations))]
    public void LikelihoodsSumToOneOverEveryImage(RegionGraphKind graph, LayerKind layer)
    {
        int seed = 0;
        foreach (var (h, w, c, n) in Shapes)
        {
            var reparameterization = (Reparameterization)(seed % 3);
            var freeze = (MixingFreeze)(seed % 3);
            var description = Tiny(graph, layer, h, w, c, n, reparameterization: reparameterization, freeze: freeze);
            using var circuit = new TensorizedCircuit(description, seed: ++seed);
            double total = TotalProbability(circuit);
            Assert.AreEqual(1.0, total, 1e-4, $"{description}: Σ p(x) = {total}");
        }
    }

    [TestMethod]
    [DynamicData(nameof(Combinations))]
    public void SummingOnePixelOutEqualsItsMarginal(RegionGraphKind graph, LayerKind layer)
    {
        foreach (var (h, w, c, n) in Shapes)
        {
            var description = Tiny(graph, layer, h, w, c, n);
            using var scope = NewDisposeScope();
            using var _ = torch.no_grad();
            using var circuit = new TensorizedCircuit(description, seed: 11);
            var x = RandomImages(description, 4, seed: 5);
            int pixel = (h * w) / 2;
            var missing = torch.zeros([4, description.Variables], ScalarType.Bool);
            missing[.., pixel] = torch.tensor(true);
            var marginal = circuit.MarginalLogLikelihood(x, missing);

            // Σ over every value of the pixel's channels of the joint.
            var joints = new List<Tensor>();
            int values = (int)Math.Pow(n, c);
            for (int v = 0; v < values; v++)
            {
                var filled = x.clone();
                int rest = v;
                for (int ch = 0; ch < c; ch++) { filled[.., pixel, ch] = torch.tensor((long)(rest % n)); rest /= n; }
                joints.Add(circuit.LogLikelihood(filled));
            }
            var summed = torch.stack(joints).logsumexp(0);
            var difference = (summed - marginal).abs().max().item<float>();
            Assert.IsLessThan(1e-4f, difference, $"{description}: |log Σ joint − marginal| = {difference}");
        }
    }

    [TestMethod]
    public void MarginalisingEveryPixelGivesProbabilityOne()
    {
        var description = Tiny(RegionGraphKind.QuadGraph, LayerKind.CP, 3, 3, 1, 2);
        using var circuit = new TensorizedCircuit(description, seed: 2);
        using var x = RandomImages(description, 3, seed: 1);
        using var missing = torch.ones([3, 9], ScalarType.Bool);
        using var ll = circuit.MarginalLogLikelihood(x, missing);
        Assert.IsLessThan(1e-5f, ll.abs().max().item<float>());
    }
}
