using Microsoft.ML.Circuits.Layers;
using Microsoft.ML.Circuits.Queries;
using Microsoft.ML.Circuits.Semirings;
using Microsoft.ML.Circuits.Structure;
using TorchSharp;
using static TorchSharp.torch;
using static Microsoft.ML.Circuits.Tests.TinyCircuits;

namespace Microsoft.ML.Circuits.Tests.Semirings;

/// <summary>
/// The scaled-linear semiring against the log-sum-exp reference: the same values and the same gradients to float32
/// rounding, operation by operation and for whole circuits of every region graph × layer kind × reparameterisation,
/// with −∞ inputs (zero-probability values), missing pixels, zero vectors, padded folds, and a 28×28 circuit whose
/// unscaled linear values would underflow float32 many times over.
/// </summary>
[TestClass]
public sealed class ScaledLinearTests
{
    static readonly Semiring Scaled = Semiring.ScaledLinear, Reference = Semiring.LogSumExp;

    /// <summary>Log-values in about −5..5 with some −∞ entries, and one vector that is entirely −∞ (<see cref="SemiringTests"/>'s).</summary>
    static Tensor LogValues(long[] shape, int seed) => SemiringTests.LogValues(shape, seed);

    static Tensor Weights(long[] shape, int seed)
    {
        using var g = new Generator((ulong)seed, torch.CPU);
        return torch.rand(shape, ScalarType.Float32, generator: g).add_(0.01);
    }

    /// <summary>Same −∞ entries, finite entries within float32 rounding of the largest finite magnitude.</summary>
    static void AssertSameValues(Tensor expected, Tensor actual, string what, double relative = 2e-5)
    {
        using var scope = NewDisposeScope();
        var e = expected.detach().to(ScalarType.Float64).cpu();
        var a = actual.detach().to(ScalarType.Float64).cpu();
        CollectionAssert.AreEqual(e.shape, a.shape, $"{what}: shape");
        Assert.IsFalse(a.isnan().any().item<bool>(), $"{what}: NaN in the scaled-linear values");
        Assert.IsTrue(e.isneginf().eq(a.isneginf()).all().item<bool>(), $"{what}: the −∞ entries differ");
        var finite = e.isfinite();
        if (!finite.any().item<bool>()) return;
        double worst = (e - a).abs().masked_select(finite).max().item<double>();
        double magnitude = Math.Max(1, e.abs().masked_select(finite).max().item<double>());
        Assert.IsLessThanOrEqualTo(relative * magnitude, worst, $"{what}: largest difference {worst:G3} at magnitude {magnitude:G3}");
    }

    /// <summary>Gradients of a whole circuit agree to float32 rounding relative to the largest gradient of the tensor.</summary>
    static void AssertSameGradients(Tensor? expected, Tensor? actual, string what)
    {
        if (expected is null && actual is null) return; // a parameter the value does not depend on (log Z and the input logits)
        Assert.IsNotNull(actual, $"{what}: no scaled-linear gradient");
        Assert.IsTrue(actual.isfinite().all().item<bool>(), $"{what}: a scaled-linear gradient is not finite");
        Assert.IsNotNull(expected, $"{what}: no reference gradient");
        using var scope = NewDisposeScope();
        var e = expected.to(ScalarType.Float64);
        var a = actual.to(ScalarType.Float64);
        var finite = e.isfinite();
        Assert.IsTrue(finite.all().item<bool>(), $"{what}: the reference gradient is not finite (the test's input is not what it means to be)");
        // Float32 rounding of the two paths, amplified where log c(x)'s and log Z's gradients cancel (a root scale's
        // gradient is exactly 0 in exact arithmetic); a broken gradient is off by its own size.
        double worst = (e - a).abs().max().item<double>();
        double magnitude = e.abs().max().item<double>();
        Assert.IsLessThanOrEqualTo(3e-3 * magnitude + 1e-5, worst, $"{what}: largest gradient difference {worst:G3}, largest gradient {magnitude:G3}");
    }

    [TestMethod]
    public void ConversionRoundTripsLogValuesIncludingNegativeInfinity()
    {
        using var x = LogValues([3, 4, 6], 1);
        using var packed = Scaled.FromLogValues(x);
        CollectionAssert.AreEqual(new long[] { 3, 4, 7 }, packed.shape);
        var linear = packed.narrow(-1, 0, 6);
        var logScale = packed.narrow(-1, 6, 1);
        var max = linear.amax([-1]);
        Assert.IsTrue(max[0, 0].item<float>() == 0 && logScale[0, 0, 0].item<float>() == ScaledLinearSemiring.ZeroScale, "the zero vector is linear 0 with the floor scale");
        Assert.IsTrue(max.flatten().narrow(0, 1, 11).eq(1f).all().item<bool>(), "every other vector has maximum 1");
        using var back = Scaled.ToLogValues(packed);
        AssertSameValues(x, back, "round trip", 1e-6);
    }

    [TestMethod]
    public void EachOperationAgreesWithLogSumExpInValuesAndGradients()
    {
        // MatMul, OuterMatMul, WeightedSum and the CP product (with a left-out slot), each on log-values with −∞
        // entries and a vector that is entirely −∞; gradients compared where the reference's are finite.
        var cases = new (string Name, Func<Semiring, Tensor[], Tensor> Run, long[][] Shapes)[]
        {
            ("MatMul", (s, t) => s.MatMul(t[0], t[1]), [[3, 4, 5], [3, 5, 2]]),
            ("OuterMatMul", (s, t) => s.OuterMatMul(t[0], t[1], t[2]), [[2, 3, 4], [2, 3, 4], [2, 16, 3]]),
            ("WeightedSum", (s, t) => s.WeightedSum(t[0], t[1].unsqueeze(2), 1), [[3, 4, 2, 5], [3, 4, 5]]),
            ("Sum", (s, t) => s.Sum(t[0], 1), [[3, 4, 2, 5], [1]]), // no weights: the second leaf gets no gradient
            ("MatMulProduct", (s, t) => s.MatMulProduct(t[0], t[1], [2, 3, 4, 2], 1, torch.tensor(new[] { false, false, false, false, false, true }).view(2, 3, 1, 1), null), [[6, 4, 5], [6, 5, 2]]),
        };
        foreach (var (name, run, shapes) in cases)
        {
            using var scope = NewDisposeScope();
            // The first shape(s) hold values (−∞ allowed), the last the weights.
            int valueCount = shapes.Length - 1;
            var values = Enumerable.Range(0, valueCount).Select(i => LogValues(shapes[i], 10 + i)).ToArray();
            var weight = Weights(shapes[^1], 20);
            // Shift one value tensor far from 0, so the scales do real work.
            values[0].add_(-300);
            Tensor[] Leaves() => [.. values.Select(v => v.clone().requires_grad_()), weight.clone().requires_grad_()];

            var referenceLeaves = Leaves();
            var expected = run(Reference, referenceLeaves);
            var scaledLeaves = Leaves();
            var converted = scaledLeaves.Take(valueCount).Select(Scaled.FromLogValues).Concat(scaledLeaves.Skip(valueCount)).ToArray();
            var actual = Scaled.ToLogValues(run(Scaled, converted));
            AssertSameValues(expected, actual, name);

            // Gradients of the sum of the finite outputs; the reference's are NaN where an output is −∞ (log 0), so
            // compare only tensors without −∞ outputs' influence: every leaf of the scaled path must still be finite.
            var finite = expected.isfinite();
            expected.masked_fill(finite.logical_not(), 0).sum().backward();
            actual.masked_fill(finite.logical_not(), 0).sum().backward();
            for (int i = 0; i < scaledLeaves.Length; i++)
            {
                if (scaledLeaves[i].grad is null && referenceLeaves[i].grad is null) continue;
                var a = scaledLeaves[i].grad!;
                Assert.IsTrue(a.isfinite().all().item<bool>(), $"{name}: scaled-linear gradient {i} not finite");
                var e = referenceLeaves[i].grad!.to(ScalarType.Float64);
                a = a.to(ScalarType.Float64);
                var both = e.isfinite();
                double worst = (e - a).abs().masked_select(both).max().item<double>();
                double magnitude = e.abs().masked_select(both).max().item<double>();
                Assert.IsLessThanOrEqualTo(1e-3 * magnitude + 1e-7, worst, $"{name}: gradient {i} differs by {worst:G3} (largest {magnitude:G3})");
            }
        }
    }

    static Tensor RandomMissing(CircuitDescription d, int count, long seed)
    {
        using var g = new Generator((ulong)seed, torch.CPU);
        var missing = torch.rand([count, d.Variables], ScalarType.Float32, generator: g).lt(0.3);
        missing[0].fill_(false); // one image complete
        return missing;
    }

    /// <summary>Log-likelihood (or marginal with <paramref name="missing"/>) and every parameter's gradient of its sum.</summary>
    static (Tensor Values, Dictionary<string, Tensor?> Gradients) Run(TensorizedCircuit circuit, Tensor x, Tensor? missing, Semiring semiring) =>
        Run(circuit, semiring, s => missing is null
            ? new LogLikelihoodQuery(circuit) { Semiring = s }.Evaluate(x)
            : new MarginalQuery(circuit) { Semiring = s }.Evaluate(x, missing));

    /// <summary>The values of <paramref name="query"/> over <paramref name="semiring"/> and every parameter's gradient of their sum.</summary>
    static (Tensor Values, Dictionary<string, Tensor?> Gradients) Run(TensorizedCircuit circuit, Semiring semiring, Func<Semiring, Tensor> query)
    {
        circuit.zero_grad();
        var values = query(semiring);
        values.sum().backward();
        var gradients = circuit.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad?.detach().clone());
        return (values.detach(), gradients);
    }

    static void AssertCircuitsAgree(TensorizedCircuit circuit, Tensor x, Tensor? missing, string what)
    {
        var (expected, expectedGradients) = Run(circuit, x, missing, Reference);
        var (actual, actualGradients) = Run(circuit, x, missing, Scaled);
        AssertSameValues(expected, actual, what);
        foreach (var (name, gradient) in expectedGradients)
            AssertSameGradients(gradient, actualGradients[name], $"{what}: {name}");
    }

    [TestMethod]
    [DataRow(Reparameterization.Clamp)]
    [DataRow(Reparameterization.Exp)]
    [DataRow(Reparameterization.Softmax)]
    public void EveryRegionGraphAndLayerAgreesWithLogSumExpWithZeroProbabilitiesAndMissingPixels(Reparameterization reparameterization)
    {
        foreach (var (graph, layer) in SupportedCombinations())
        {
            using var scope = NewDisposeScope();
            var description = Tiny(graph, layer, 4, 4, 2, 5, reparameterization: reparameterization, freeze: MixingFreeze.None);
            using var circuit = new TensorizedCircuit(description, seed: 5);
            // Zero-probability values: −∞ logits for ~30% of (pixel, channel, value, replica, unit), never the last unit
            // nor value 0, so input vectors have −∞ entries but none is entirely −∞ (there the reference's gradient is
            // NaN) and every unit's categorical distribution stays defined.
            using (torch.no_grad())
            using (var g = new Generator(11, torch.CPU))
            {
                var logits = circuit.Input.Logits;
                var holes = torch.rand(logits.shape, ScalarType.Float32, generator: g).lt(0.3);
                holes.narrow(4, logits.shape[4] - 1, 1).fill_(false);
                holes.narrow(2, 0, 1).fill_(false);
                logits.masked_fill_(holes, float.NegativeInfinity);
            }
            var x = RandomImages(description, 8, seed: 9);
            AssertCircuitsAgree(circuit, x, null, $"{description} ({reparameterization}), complete images");
            AssertCircuitsAgree(circuit, x, RandomMissing(description, 8, seed: 4), $"{description} ({reparameterization}), missing pixels");
        }
    }

    [TestMethod]
    public void AZeroVectorInsideTheCircuitStaysExactAndItsGradientsFinite()
    {
        // Random binary trees with two replicas: the root mixes the replicas. A value with probability 0 under every
        // unit of replica 0 makes that replica's whole input vector zero (scale −∞) for the images that hold it, and
        // every product above it too, while replica 1 keeps the image's likelihood finite. The reference computes the
        // same finite values but its gradients are NaN there (log 0 in its backward); the scaled-linear ones must be
        // finite, and agree with the reference on images without the value.
        foreach (var layer in Enum.GetValues<LayerKind>())
        {
            using var scope = NewDisposeScope();
            var description = Tiny(RegionGraphKind.RandomBinaryTree, layer, 4, 4, 1, 3, freeze: MixingFreeze.None);
            using var circuit = new TensorizedCircuit(description, seed: 5);
            using (torch.no_grad())
                circuit.Input.Logits.select(0, 0).select(0, 0).select(0, 1).select(0, 0).fill_(float.NegativeInfinity); // pixel 0, value 1, replica 0
            var x = RandomImages(description, 16, seed: 2);
            x[0, 0, 0] = torch.tensor(1L);
            x[1, 0, 0] = torch.tensor(1L);
            x[2, 0, 0] = torch.tensor(0L);
            var (expected, _) = Run(circuit, x, null, Reference);
            var (actual, gradients) = Run(circuit, x, null, Scaled);
            AssertSameValues(expected, actual, $"{description}");
            Assert.IsTrue(actual.isfinite().all().item<bool>(), $"{description}: replica 1 keeps every image possible");
            foreach (var (name, gradient) in gradients)
                Assert.IsTrue(gradient is not null && gradient.isfinite().all().item<bool>(), $"{description}: the gradient of {name} is not finite");

            var clean = x.index_select(0, x.select(2, 0).select(1, 0).ne(1).nonzero().squeeze(1));
            AssertCircuitsAgree(circuit, clean, null, $"{description}, images without the impossible value");
        }
    }

    [TestMethod]
    [DataRow(Reparameterization.Clamp)]
    [DataRow(Reparameterization.Softmax)]
    public void PaddedFoldsAgreeWithLogSumExp(Reparameterization reparameterization)
    {
        // Hand-made padded specs (see PaddedMixingTests): two folds of arity 3, the second with two real slots; the
        // padded slot reads the padding row. A CP layer and a mixing layer over the same source, whose third row is
        // entirely −∞ for some images (a zero vector beside real slots).
        foreach (var kind in new[] { LayerSpecKind.Mixing, LayerSpecKind.CP, LayerSpecKind.CPS, LayerSpecKind.UncollapsedCP })
        {
            using var scope = NewDisposeScope();
            const int units = 4, batch = 5;
            var plan = new FoldedLayerPlan(0, kind == LayerSpecKind.Mixing ? FoldedLayerRole.Mixing : FoldedLayerRole.SumProduct, folds: 2, arity: 3,
                inputUnits: units, outputUnits: units, sources: [0], sourceFolds: [5], gather: [0, 1, 2, 3, 4, 5],
                mask: [true, true, true, true, true, false], foldArity: [3, 2], nodes: [0, 1]);
            var spec = kind switch
            {
                LayerSpecKind.Mixing => new LayerSpec(plan, kind, null, [new ParameterSpec("weight", [2, 3, units], ParameterRole.Mixing, false, [1], false)]),
                LayerSpecKind.CP => new LayerSpec(plan, kind, null, [new ParameterSpec("weight", [2, 3, units, units], ParameterRole.Inner, false, [2])]),
                LayerSpecKind.CPS => new LayerSpec(plan, kind, null,
                    [new ParameterSpec("weight", [3, units, units], ParameterRole.Inner, true, [1]), new ParameterSpec("scale", [2, units], ParameterRole.Scale, false, [])]),
                _ => new LayerSpec(plan, kind, 3,
                    [new ParameterSpec("input_weight", [2, 3, units, 3], ParameterRole.Inner, false, [2]), new ParameterSpec("output_weight", [2, 3, units], ParameterRole.Inner, false, [1])]),
            };
            using var generator = new Generator(3, torch.CPU);
            using var layer = LayerFactory.Create(spec, reparameterization, generator, torch.CPU);
            using var g = new Generator(5, torch.CPU);
            var source = torch.randn([5, batch, units], ScalarType.Float32, generator: g).mul_(3).add_(-200);
            source[2, 1].fill_(float.NegativeInfinity);
            source[4, 2, 0] = torch.tensor(float.NegativeInfinity);

            (Tensor Value, Tensor?[] Gradients) Forward(Semiring semiring)
            {
                layer.zero_grad();
                var leaf = source.clone().requires_grad_();
                var y = semiring.ToLogValues(layer.Forward([semiring.FromLogValues(leaf)], semiring));
                var finite = y.isfinite();
                y.masked_fill(finite.logical_not(), 0).sum().backward();
                return (y.detach(), [leaf.grad, .. layer.parameters().Select(p => p.grad)]);
            }
            var (expected, expectedGradients) = Forward(Reference);
            var (actual, actualGradients) = Forward(Scaled);
            AssertSameValues(expected, actual, $"{kind} ({reparameterization})");
            for (int i = 0; i < actualGradients.Length; i++)
            {
                var a = actualGradients[i]!;
                Assert.IsTrue(a.isfinite().all().item<bool>(), $"{kind}: scaled-linear gradient {i} not finite");
                var e = expectedGradients[i]!.to(ScalarType.Float64);
                a = a.to(ScalarType.Float64);
                var both = e.isfinite();
                double worst = (e - a).abs().masked_select(both).max().item<double>();
                double magnitude = e.abs().masked_select(both).max().item<double>();
                Assert.IsLessThanOrEqualTo(1e-3 * magnitude + 1e-7, worst, $"{kind}: gradient {i} differs by {worst:G3} (largest {magnitude:G3})");
            }
        }
    }

    [TestMethod]
    [DataRow(RegionGraphKind.QuadGraph, LayerKind.CP)]
    [DataRow(RegionGraphKind.PoonDomingos, LayerKind.Tucker)]
    public void A28By28CircuitWhoseLinearValuesWouldUnderflowStillMatchesLogSumExp(RegionGraphKind graph, LayerKind layer)
    {
        // log c(x) ≈ −784 · log 256 ≈ −4,300 nats: e^that is 0 in float32 (and float64) many times over, so any slip in
        // the scale bookkeeping (a scale not added, a rescale not applied) shows as −∞ or a wrong value.
        var description = new CircuitDescription
        {
            ImageHeight = 28, ImageWidth = 28, Channels = 1, Categories = 256, RegionGraph = graph, PoonDomingosDelta = 7,
            Layer = layer, Units = 4, FreezeMixing = MixingFreeze.None,
        };
        using var circuit = new TensorizedCircuit(description, seed: 3);
        using var x = RandomImages(description, 4, seed: 1);
        var (expected, _) = Run(circuit, x, null, Reference);
        Assert.IsTrue(expected.max().item<float>() < -1000, $"the test needs likelihoods far below float32's range, got {expected.max().item<float>()}");
        var (actual, _) = Run(circuit, x, null, Scaled);
        AssertSameValues(expected, actual, description.ToString());
        // Gradients of log c(x) and of log Z apart (their difference, log p's gradient, cancels to float32 noise near the root).
        foreach (var (what, query) in new (string, Func<Semiring, Tensor>)[]
        {
            ("log c(x)", s => new MarginalQuery(circuit) { Semiring = s }.LogCircuit(x, null)),
            ("log Z", s => new PartitionQuery(circuit, s).Evaluate()),
        })
        {
            var (expectedPart, expectedGradients) = Run(circuit, Reference, query);
            var (actualPart, actualGradients) = Run(circuit, Scaled, query);
            AssertSameValues(expectedPart, actualPart, $"{description}: {what}");
            foreach (var (name, gradient) in expectedGradients)
                AssertSameGradients(gradient, actualGradients[name], $"{description}: {what}: {name}");
        }

        using var missing = RandomMissing(description, 4, seed: 6);
        var (expectedMarginal, _) = Run(circuit, x, missing, Reference);
        var (actualMarginal, _) = Run(circuit, x, missing, Scaled);
        AssertSameValues(expectedMarginal, actualMarginal, $"{description}, missing pixels");
    }

    [TestMethod]
    public void LikelihoodQueriesRefuseMaxPlusAndDefaultToTheLibrarysSumProduct()
    {
        var description = Tiny(RegionGraphKind.QuadGraph, LayerKind.CP, 2, 2, 1, 3);
        using var circuit = new TensorizedCircuit(description);
        Assert.ThrowsExactly<ArgumentException>(() => new LogLikelihoodQuery(circuit) { Semiring = Semiring.MaxPlus });
        Assert.ThrowsExactly<ArgumentException>(() => new MarginalQuery(circuit) { Semiring = Semiring.MaxPlus });
        // On the managed kernels the library's sum-product is scaled-linear; so it is on the native CP and mixing
        // kernels, which compute it too; where a native kernel computes a layer only in log space (Tucker), log-sum-exp.
        circuit.KernelPreference = LayerKernelPreference.Managed;
        Assert.AreSame(Semiring.SumProduct, new LogLikelihoodQuery(circuit).Semiring);
        Assert.AreSame(Semiring.SumProduct, new MarginalQuery(circuit).Semiring);
        Assert.AreSame(Semiring.SumProduct, new PartitionQuery(circuit).Semiring);
        Assert.AreEqual("scaled-linear", Semiring.ScaledLinear.Name);
        circuit.KernelPreference = LayerKernelPreference.Auto;
        Assert.AreSame(Semiring.SumProduct, Semiring.SumProductFor(circuit));
        Assert.AreSame(Semiring.SumProduct, new LogLikelihoodQuery(circuit).Semiring);
        Assert.AreSame(Semiring.SumProduct, new PartitionQuery(circuit).Semiring);
        using var tucker = new TensorizedCircuit(Tiny(RegionGraphKind.QuadGraph, LayerKind.Tucker, 2, 2, 1, 3));
        tucker.KernelPreference = LayerKernelPreference.Auto;
        var expected = TensorizedCircuit.NativeKernelsUnavailable is null ? Semiring.LogSumExp : Semiring.SumProduct;
        Assert.AreSame(expected, Semiring.SumProductFor(tucker));
        Assert.AreSame(expected, new LogLikelihoodQuery(tucker).Semiring);
        Assert.AreSame(expected, new PartitionQuery(tucker).Semiring);
    }
}
