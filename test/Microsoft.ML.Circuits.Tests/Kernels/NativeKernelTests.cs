using Microsoft.ML.Circuits.Layers;
using Microsoft.ML.Circuits.Queries;
using Microsoft.ML.Circuits.Semirings;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Tests.Kernels;

/// <summary>
/// The fused native kernels (src/Circuits.Native) against the managed reference: forward values and gradients agree
/// to float32 rounding on every region graph × CP-family layer × reparameterisation, on Tucker circuits (every region
/// graph with binary partitions), and for the mixing kernel on the uncollapsed CP circuits whose mixing layers it
/// computes, with trained and frozen mixing weights, on padded folds and on inputs holding −∞; NaN inputs give NaN
/// outputs. Without the native library these tests are inconclusive — except in CI, which sets
/// CIRCUITS_REQUIRE_NATIVE=1 (.ci/run installs cmake and g++), where a missing library fails them.
/// </summary>
[TestClass]
public sealed class NativeKernelTests
{
    internal static void RequireNative()
    {
        if (TensorizedCircuit.NativeKernelsUnavailable is not { } reason) return;
        if (Environment.GetEnvironmentVariable("CIRCUITS_REQUIRE_NATIVE") == "1")
            Assert.Fail($"CIRCUITS_REQUIRE_NATIVE=1 but the native kernels are not available: {reason}");
        Assert.Inconclusive($"The native kernels are not available: {reason}");
    }

    public static IEnumerable<object[]> Cases()
    {
        foreach (var graph in Enum.GetValues<RegionGraphKind>())
            foreach (var layer in new[] { LayerKind.CP, LayerKind.CPS, LayerKind.CPXS })
                foreach (var reparameterization in Enum.GetValues<Reparameterization>())
                    yield return [graph, layer, reparameterization];
        // Tucker needs binary partitions: every region graph but the quad tree's four-way splits.
        foreach (var graph in new[] { RegionGraphKind.QuadGraph, RegionGraphKind.PoonDomingos, RegionGraphKind.RandomBinaryTree })
            foreach (var reparameterization in Enum.GetValues<Reparameterization>())
                yield return [graph, LayerKind.Tucker, reparameterization];
        // A layer without a native kernel, in region graphs with mixing layers (which the native kernel computes).
        foreach (var graph in new[] { RegionGraphKind.QuadGraph, RegionGraphKind.PoonDomingos })
            foreach (var reparameterization in Enum.GetValues<Reparameterization>())
                yield return [graph, LayerKind.UncollapsedCP, reparameterization];
    }

    [TestMethod]
    public void EveryLayerWithANativeKernelRunsItInTheCases()
    {
        foreach (var args in Cases())
        {
            var description = TinyCircuits.Tiny((RegionGraphKind)args[0], (LayerKind)args[1], 5, 5, 1, 7, units: 5, freeze: MixingFreeze.None);
            using var circuit = new TensorizedCircuit(description, seed: 3);
            if (TensorizedCircuit.NativeKernelsUnavailable is not null) return;
            circuit.KernelPreference = LayerKernelPreference.Native;
            Assert.IsTrue(circuit.Layers.Any(l => l.KernelName == "native"), $"{args[0]} {args[1]}: some layer runs natively");
            foreach (var layer in circuit.Layers)
                Assert.AreEqual(layer is CpLayer or SharedCpLayer or TuckerLayer or MixingLayer, layer.KernelName == "native", $"{args[0]} {args[1]} layer {layer.Spec.Index}");
        }
        Assert.IsTrue(Cases().Any(args => args[1] is LayerKind.Tucker), "Tucker circuits are among the cases");
        Assert.IsTrue(Cases().Any(args => args[1] is LayerKind.UncollapsedCP), "uncollapsed CP circuits are among the cases (their mixing layers)");
    }

    [TestMethod]
    [DataRow(RegionGraphKind.QuadGraph)]
    [DataRow(RegionGraphKind.PoonDomingos)]
    public void FrozenMixingLayersAgreeToo(RegionGraphKind graph)
    {
        RequireNative();
        // The paper's default: mixing weights frozen at 0.5 (a buffer, no gradient).
        var description = TinyCircuits.Tiny(graph, LayerKind.CP, 5, 5, 1, 7, units: 5, freeze: MixingFreeze.All);
        using var circuit = new TensorizedCircuit(description, seed: 3);
        Assert.IsTrue(circuit.Layers.OfType<MixingLayer>().Any(m => m.IsFrozen));
        var x = TinyCircuits.RandomImages(description, 17, seed: 4);
        var managed = Pass(circuit, x, LayerKernelPreference.Managed);
        var native = Pass(circuit, x, LayerKernelPreference.Native);
        AssertClose(managed.LogCircuit, native.LogCircuit, "log c(x)", floor: 1);
        for (int p = 0; p < managed.DataGradients.Length; p++)
            AssertClose(managed.DataGradients[p], native.DataGradients[p], $"∂ mean log c(x) / ∂ parameter {p}");
    }

    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void NativeAndManagedAgreeOnValuesAndGradients(RegionGraphKind graph, LayerKind layer, Reparameterization reparameterization)
    {
        RequireNative();
        // 5×5 images: QT-4 pads folds of its first CP layers at this size, so padded slots are covered too.
        var description = TinyCircuits.Tiny(graph, layer, 5, 5, 1, 7, units: 5, reparameterization: reparameterization, freeze: MixingFreeze.None);
        using var circuit = new TensorizedCircuit(description, seed: 3);
        var x = TinyCircuits.RandomImages(description, 33, seed: 4);
        var managed = Pass(circuit, x, LayerKernelPreference.Managed);
        var native = Pass(circuit, x, LayerKernelPreference.Native);
        Assert.IsTrue(circuit.Layers.Any(l => l.KernelName == "native"), "some layer ran the native kernel");
        AssertClose(managed.LogCircuit, native.LogCircuit, "log c(x)", floor: 1);
        AssertClose(managed.LogZ, native.LogZ, "log Z", floor: 1);   // nats: under softmax log Z is 0 up to rounding
        // The data term and the log Z term of the gradient are compared apart: their difference (the likelihood's
        // gradient) cancels to a small remainder in which float32 rounding of either kernel is amplified.
        // Under softmax a parameter's gradient is w ⊙ (g − Σ w·g): where it cancels to almost nothing, the rounding of
        // g is what remains, so it is measured against the largest gradient of any parameter.
        double overall = managed.DataGradients.Max(g => g.abs().max().item<float>());
        for (int p = 0; p < managed.DataGradients.Length; p++)
        {
            AssertClose(managed.DataGradients[p], native.DataGradients[p], $"∂ mean log c(x) / ∂ parameter {p}",
                floor: reparameterization == Reparameterization.Softmax ? overall : 1e-6);
            // Under softmax log Z is 0 whatever the weights, so its gradient is rounding noise: measured against the
            // data term's scale.
            AssertClose(managed.PartitionGradients[p], native.PartitionGradients[p], $"∂ log Z / ∂ parameter {p}",
                floor: reparameterization == Reparameterization.Softmax ? overall : managed.DataGradients[p].abs().max().item<float>());
        }
    }

    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void NativeAndManagedAgreeOnTheScaledLinearPath(RegionGraphKind graph, LayerKind layer, Reparameterization reparameterization)
    {
        RequireNative();
        // The native CP, CP-XS and mixing kernels compute scaled-linear passes too (scaled_kernels.cpp); CP-S and
        // Tucker layers hand them to the managed kernel. Both kernels on the scaled-linear path, and the native one
        // against the log-sum-exp reference as well.
        var description = TinyCircuits.Tiny(graph, layer, 5, 5, 1, 7, units: 5, reparameterization: reparameterization, freeze: MixingFreeze.None);
        using var circuit = new TensorizedCircuit(description, seed: 3);
        var x = TinyCircuits.RandomImages(description, 33, seed: 4);
        var reference = Pass(circuit, x, LayerKernelPreference.Managed, Semiring.LogSumExp);
        var managed = Pass(circuit, x, LayerKernelPreference.Managed, Semiring.ScaledLinear);
        var native = Pass(circuit, x, LayerKernelPreference.Native, Semiring.ScaledLinear);
        foreach (var l in circuit.Layers)
            Assert.AreEqual(l is CpLayer or MixingLayer || l.GetType() == typeof(SharedCpLayer), l.KernelNameFor(Semiring.ScaledLinear) == "native",
                $"layer {l.Spec.Index} ({l.GetType().Name}): the CP, CP-XS and mixing layers compute scaled-linear passes natively, and only they");
        using (torch.no_grad())
        {
            // Without autograd the kernels save nothing and keep the slots' factors in scratch (arity 4 in QT circuits).
            var inference = new MarginalQuery(circuit) { Semiring = Semiring.ScaledLinear }.LogCircuit(x, null);
            AssertClose(managed.LogCircuit, inference, "log c(x) without gradients", floor: 1);
        }
        double overall = managed.DataGradients.Max(g => g.abs().max().item<float>());
        foreach (var (expected, name) in new[] { (managed, "managed scaled-linear"), (reference, "managed log-sum-exp") })
        {
            AssertClose(expected.LogCircuit, native.LogCircuit, $"log c(x) against the {name}", floor: 1);
            AssertClose(expected.LogZ, native.LogZ, $"log Z against the {name}", floor: 1);
            for (int p = 0; p < managed.DataGradients.Length; p++)
            {
                AssertClose(expected.DataGradients[p], native.DataGradients[p], $"∂ mean log c(x) / ∂ parameter {p} against the {name}",
                    floor: reparameterization == Reparameterization.Softmax ? overall : 1e-6);
                AssertClose(expected.PartitionGradients[p], native.PartitionGradients[p], $"∂ log Z / ∂ parameter {p} against the {name}",
                    floor: reparameterization == Reparameterization.Softmax ? overall : expected.DataGradients[p].abs().max().item<float>());
            }
        }
    }

    [TestMethod]
    [DataRow(RegionGraphKind.QuadGraph, LayerKind.CP)]
    [DataRow(RegionGraphKind.PoonDomingos, LayerKind.CP)]
    [DataRow(RegionGraphKind.QuadGraph, LayerKind.Tucker)]
    [DataRow(RegionGraphKind.PoonDomingos, LayerKind.Tucker)]
    public void AnOutputReadBySeveralNativeLayersGetsExactlyTheGradientOfTheReadersThatLeadToWhatIsDifferentiated(RegionGraphKind graph, LayerKind kind)
    {
        RequireNative();
        // The native readers of an output add their gradients into one shared buffer, passed on by one node after all
        // of them. Differentiating each layer's output in turn (not only the root) leaves some readers of a shared
        // output off the path: they must add nothing. A second backward pass over a retained graph must add again.
        var description = TinyCircuits.Tiny(graph, kind, 5, 5, 1, 7, units: 4, freeze: MixingFreeze.None);
        using var circuit = new TensorizedCircuit(description, seed: 3);
        var readers = circuit.Layers.SelectMany(l => l.Spec.Sources).GroupBy(s => s).Max(g => g.Count());
        Assert.IsTrue(readers >= 3, $"some output is read by several layers (at most {readers})");
        var x = TinyCircuits.RandomImages(description, 9, seed: 4);
        var parameters = circuit.parameters().Where(p => p.requires_grad).ToArray();
        for (int target = 1; target <= circuit.Layers.Count; target++)
        {
            var managed = OutputGradients(circuit, x, LayerKernelPreference.Managed, target, backwardPasses: 1);
            var native = OutputGradients(circuit, x, LayerKernelPreference.Native, target, backwardPasses: 1);
            for (int p = 0; p < parameters.Length; p++)
                AssertClose(managed[p], native[p], $"∂ Σ output {target} / ∂ parameter {p}");
        }
        var once = OutputGradients(circuit, x, LayerKernelPreference.Native, circuit.Layers.Count, backwardPasses: 1);
        var twice = OutputGradients(circuit, x, LayerKernelPreference.Native, circuit.Layers.Count, backwardPasses: 2);
        for (int p = 0; p < parameters.Length; p++)
            AssertClose(2 * once[p], twice[p], $"two backward passes, parameter {p}");
    }

    [TestMethod]
    [DataRow(RegionGraphKind.QuadGraph, 1)]
    [DataRow(RegionGraphKind.QuadGraph, 3)]
    [DataRow(RegionGraphKind.RandomBinaryTree, 2)]   // two channels, and two replicas of every variable
    public void TheNativeInputGatherAgreesWithTheManagedOneOnValuesAndTheTablesGradient(RegionGraphKind graph, int channels)
    {
        RequireNative();
        var description = TinyCircuits.Tiny(graph, LayerKind.CP, 4, 3, channels, 6, units: 5);
        using var circuit = new TensorizedCircuit(description, seed: 3);
        var x = TinyCircuits.RandomImages(description, 11, seed: 4);
        using var generator = new Generator(9);
        (Tensor Values, Tensor Gradient) Gather(LayerKernelPreference preference)
        {
            circuit.KernelPreference = preference;
            Assert.AreEqual(preference == LayerKernelPreference.Native ? "native" : "managed", circuit.Input.KernelName);
            circuit.zero_grad();
            using var scope = NewDisposeScope();
            var y = circuit.Input.Forward(x, null, Semiring.LogSumExp);
            using var weights = torch.linspace(-1, 2, y.NumberOfElements).view(y.shape);
            (y * weights).sum().backward();
            return (y.detach().clone().MoveToOuterDisposeScope(), circuit.Input.Logits.grad!.clone().MoveToOuterDisposeScope());
        }
        var managed = Gather(LayerKernelPreference.Managed);
        var native = Gather(LayerKernelPreference.Native);
        Assert.AreEqual(circuit.Input.Replicas > 1 ? 2 : 1, circuit.Input.Replicas);
        if (channels == 1)
            Assert.IsTrue(managed.Values.eq(native.Values).all().item<bool>(), "one channel: the same floats, copied");
        AssertClose(managed.Values, native.Values, "log p(x) per unit");
        AssertClose(managed.Gradient, native.Gradient, "the logits' gradient");
        circuit.zero_grad();
    }

    [TestMethod]
    public void ThePixelsOfANativeGatherAreCheckedAgainstTheCategories()
    {
        RequireNative();
        // The unchecked evaluation (training, after its dataset was validated) reaches the gather without a range
        // check of its own; the native kernel indexes memory with the values, so it checks them.
        var description = TinyCircuits.Tiny(RegionGraphKind.QuadGraph, LayerKind.CP, 3, 3, 1, 6, units: 3);
        using var circuit = new TensorizedCircuit(description, seed: 3);
        circuit.KernelPreference = LayerKernelPreference.Native;
        foreach (long bad in new long[] { 6, -1 })
        {
            var x = TinyCircuits.RandomImages(description, 4, seed: 4);
            x[2, 5, 0] = torch.tensor(bad);
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => circuit.Input.Forward(x, null, Semiring.LogSumExp));
            StringAssert.Contains(e.Message, "outside 0..5");
        }
    }

    [TestMethod]
    public void APassesGraphIsFreedWithItsScopeNotLeftToTheGarbageCollector()
    {
        RequireNative();
        // The shared gradients live in the pass's autograd graph (the identity nodes' and the readers' saved data).
        // A training loop rarely triggers a garbage collection, so a graph kept alive by a managed reference (say the
        // identity node's saved data reaching its own output) would pile up. With nothing referencing them but the
        // released graph, the accumulators must be collectable as soon as the pass's scope is gone. (Watched fail with
        // the identity node's output kept out of the scope and reachable from its saved data.)
        var description = TinyCircuits.Tiny(RegionGraphKind.QuadGraph, LayerKind.CP, 5, 5, 1, 7, units: 4, freeze: MixingFreeze.None);
        using var circuit = new TensorizedCircuit(description, seed: 3);
        circuit.KernelPreference = LayerKernelPreference.Native;
        var x = TinyCircuits.RandomImages(description, 9, seed: 4);
        var accumulators = TrainingPassAccumulators(circuit, x);
        Assert.IsGreaterThanOrEqualTo(5, accumulators.Length, "the pass shared gradients");
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.AreEqual(0, accumulators.Count(a => a.IsAlive), "accumulators still reachable after the pass's scope was disposed");
        circuit.zero_grad();
    }

    [TestMethod]
    public void ALayerCalledAgainOnTheSameSourcesAfterTheirFirstPassesScopeEndedStillDifferentiates()
    {
        RequireNative();
        // The shared gradient of a source is kept per source object; its identity view lives in the scope of the first
        // pass that read it. A later pass over the same source objects (InnerLayer.Forward is public) must not
        // find that view disposed.
        var (circuit, layer) = LayerCase(LayerKind.CP, mixing: false);
        using var _ = circuit;
        circuit.KernelPreference = LayerKernelPreference.Native;
        using var generator = new Generator(7);
        var sources = Split(layer, RandomSourceValues(layer, 5, wholeRow: false, generator)).Select(s => s.requires_grad_(true)).ToArray();
        Tensor[] Gradients()
        {
            using var scope = NewDisposeScope();
            var y = layer.Forward(sources, Semiring.LogSumExp);
            y.masked_fill(y.isfinite().logical_not(), 0.0).sum().backward();
            var result = sources.Select(s => s.grad!.clone().MoveToOuterDisposeScope()).ToArray();
            foreach (var s in sources) s.grad!.zero_();
            return result;
        }
        var first = Gradients();
        var second = Gradients();
        for (int s = 0; s < sources.Length; s++)
            AssertClose(first[s], second[s], $"source {s}'s gradient, second pass");
        Assert.IsTrue(first.Any(g => g.abs().sum().item<float>() > 0), "the sources received gradients");
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    static WeakReference[] TrainingPassAccumulators(TensorizedCircuit circuit, Tensor x)
    {
        using var scope = NewDisposeScope();
        var inputs = circuit.Input.Forward(x, null, Semiring.LogSumExp);
        var evaluation = circuit.Evaluate(inputs, Semiring.LogSumExp);
        var read = circuit.Layers.Where(l => l.KernelName == "native").SelectMany(l => l.Spec.Sources).Distinct();
        var accumulators = read.Select(s => new WeakReference(Microsoft.ML.Circuits.Kernels.SourceGradient.Of(evaluation.Outputs[s]).Accumulator)).ToArray();
        evaluation.Root.sum().backward();
        return accumulators;
    }

    /// <summary>The parameters' gradients of the sum of the finite entries of one output of the plan walker.</summary>
    static Tensor[] OutputGradients(TensorizedCircuit circuit, Tensor x, LayerKernelPreference preference, int output, int backwardPasses)
    {
        circuit.KernelPreference = preference;
        circuit.zero_grad();
        using var scope = NewDisposeScope();
        var inputs = circuit.Input.Forward(x, null, Semiring.LogSumExp);
        var evaluation = circuit.Evaluate(inputs, Semiring.LogSumExp);
        var values = evaluation.Outputs[output];
        var loss = values.masked_fill(values.isfinite().logical_not(), 0.0).sum();
        for (int pass = 0; pass < backwardPasses; pass++)
            loss.backward(retain_graph: pass + 1 < backwardPasses);
        var gradients = circuit.parameters().Where(p => p.requires_grad)
            .Select(p => (p.grad is null ? torch.zeros_like(p) : p.grad.clone()).MoveToOuterDisposeScope()).ToArray();
        circuit.zero_grad();
        return gradients;
    }

    [TestMethod]
    [DataRow(21, 80)]   // K² = 441: blocks of 37 images (3 blocks, the last partial), K not a multiple of 8
    [DataRow(8, 300)]   // K² = 64: blocks of 256 images (2 blocks)
    public void TheTuckerKernelAgreesAcrossBlocksOfImages(int units, int images)
    {
        RequireNative();
        // The native Tucker kernel builds the outer product about 64 KB of images at a time and adds the core tensors'
        // gradient over the blocks: a batch larger than one block, and a K with a scalar tail, must change nothing.
        var description = TinyCircuits.Tiny(RegionGraphKind.QuadGraph, LayerKind.Tucker, 4, 4, 1, 5, units: units, freeze: MixingFreeze.None);
        using var circuit = new TensorizedCircuit(description, seed: 3);
        var x = TinyCircuits.RandomImages(description, images, seed: 4);
        var managed = Pass(circuit, x, LayerKernelPreference.Managed);
        var native = Pass(circuit, x, LayerKernelPreference.Native);
        Assert.IsTrue(circuit.Layers.OfType<TuckerLayer>().All(l => l.KernelName == "native"));
        AssertClose(managed.LogCircuit, native.LogCircuit, "log c(x)", floor: 1);
        for (int p = 0; p < managed.DataGradients.Length; p++)
            AssertClose(managed.DataGradients[p], native.DataGradients[p], $"∂ mean log c(x) / ∂ parameter {p}");
    }

    [TestMethod]
    public void PaddedFoldsAreCoveredByTheCases()
    {
        var description = TinyCircuits.Tiny(RegionGraphKind.QuadTree, LayerKind.CP, 5, 5, 1, 7, units: 5);
        using var circuit = new TensorizedCircuit(description, seed: 3);
        Assert.IsTrue(circuit.Layers.Any(l => l is CpLayer && l.Spec.IsPadded));
    }

    sealed record Result(Tensor LogCircuit, Tensor LogZ, Tensor[] DataGradients, Tensor[] PartitionGradients);

    static Result Pass(TensorizedCircuit circuit, Tensor x, LayerKernelPreference preference, Semiring? semiring = null)
    {
        // By default both kernels on the log-sum-exp reference path.
        semiring ??= Semiring.LogSumExp;
        circuit.KernelPreference = preference;
        var parameters = circuit.parameters().Where(p => p.requires_grad).ToArray();
        circuit.zero_grad();
        var logCircuit = new MarginalQuery(circuit) { Semiring = semiring }.LogCircuit(x, null);
        logCircuit.mean().backward();
        var data = parameters.Select(p => p.grad is null ? torch.zeros_like(p) : p.grad.clone()).ToArray();
        circuit.zero_grad();
        var logZ = new PartitionQuery(circuit, semiring).Evaluate();
        logZ.backward();
        var partition = parameters.Select(p => p.grad is null ? torch.zeros_like(p) : p.grad.clone()).ToArray();
        circuit.zero_grad();
        return new Result(logCircuit.detach().clone(), logZ.detach().clone(), data, partition);
    }

    /// <summary>Values, log Z and every gradient of two passes equal bit for bit.</summary>
    static void AssertIdentical(Result expected, Result actual)
    {
        Assert.IsTrue(expected.LogCircuit.eq(actual.LogCircuit).all().item<bool>(), "log c(x)");
        Assert.IsTrue(expected.LogZ.eq(actual.LogZ).all().item<bool>(), "log Z");
        for (int p = 0; p < expected.DataGradients.Length; p++)
        {
            Assert.IsTrue(expected.DataGradients[p].eq(actual.DataGradients[p]).all().item<bool>(), $"∂ mean log c(x) / ∂ parameter {p}");
            Assert.IsTrue(expected.PartitionGradients[p].eq(actual.PartitionGradients[p]).all().item<bool>(), $"∂ log Z / ∂ parameter {p}");
        }
    }

    static void AssertClose(Tensor expected, Tensor actual, string what, double tolerance = 1e-3, double floor = 1e-6)
    {
        CollectionAssert.AreEqual(expected.shape, actual.shape, what);
        using var e = expected.to(ScalarType.Float64).flatten();
        using var a = actual.to(ScalarType.Float64).flatten();
        double scale = Math.Max(floor, e.abs().max().item<double>());
        double worst = (e - a).abs().max().item<double>();
        Assert.IsTrue(worst <= tolerance * scale, $"{what}: max difference {worst:E3} at scale {scale:E3}");
    }

    /// <summary>
    /// Random log-values for the sources of <paramref name="layer"/> (one tensor per source, as the plan walker passes
    /// them), with some −∞ entries everywhere and, when asked, the whole first row of image 2 −∞.
    /// </summary>
    static Tensor RandomSourceValues(InnerLayer layer, long batch, bool wholeRow, Generator generator)
    {
        long rows = layer.Spec.Plan.SourceFolds.Sum();
        var values = torch.randn([rows, batch, layer.InputUnits], generator: generator) * 4;
        var impossible = torch.rand([rows, batch, layer.InputUnits], generator: generator) < 0.3;
        values = values.masked_fill(impossible, double.NegativeInfinity);
        if (wholeRow) values[0, 2] = torch.full([layer.InputUnits], double.NegativeInfinity);
        return values;
    }

    static Tensor[] Split(InnerLayer layer, Tensor values) =>
        [.. values.split([.. layer.Spec.Plan.SourceFolds.Select(f => (long)f)], 0)];

    /// <summary>A small QG circuit with trained mixing weights, and its first CP-family or Tucker layer (or first mixing layer).</summary>
    static (TensorizedCircuit Circuit, InnerLayer Layer) LayerCase(LayerKind kind, bool mixing)
    {
        var description = TinyCircuits.Tiny(RegionGraphKind.QuadGraph, kind, 4, 4, 1, 5, units: 6, freeze: MixingFreeze.None);
        var circuit = new TensorizedCircuit(description, seed: 5);
        return (circuit, circuit.Layers.First(l => mixing ? l is MixingLayer : l is CpLayer or SharedCpLayer or TuckerLayer));
    }

    [TestMethod]
    [DataRow(LayerKind.CP, false)]
    [DataRow(LayerKind.CPXS, false)]
    [DataRow(LayerKind.Tucker, false)]
    [DataRow(LayerKind.CP, true)]
    public void NegativeInfinityInputsAgreeAndAWhollyImpossibleSlotHasNoGradient(LayerKind kind, bool mixing)
    {
        RequireNative();
        var (circuit, layer) = LayerCase(kind, mixing);
        using var owned = circuit;
        using var generator = new Generator(7, torch.CPU);
        // Some −∞ entries everywhere, and one source row (image 2 of row 0) entirely −∞.
        var values = RandomSourceValues(layer, 9, wholeRow: true, generator);

        (Tensor Y, Tensor Grad, Tensor WeightGrad) Run(LayerKernelPreference preference)
        {
            circuit.KernelPreference = preference;
            circuit.zero_grad();
            var source = values.clone().requires_grad_();
            var y = layer.Forward(Split(layer, source), Semiring.LogSumExp);
            // Weight only the finite outputs, so the gradients are defined.
            var finite = y.isfinite();
            var g = torch.where(finite, torch.rand(y.shape, generator: new Generator(9, torch.CPU)), torch.zeros_like(y));
            torch.where(finite, y, torch.zeros_like(y)).mul(g).sum().backward();
            var weight = layer.parameters().First();
            return (y.detach().clone(), source.grad!.clone(), weight.grad!.clone());
        }
        var managed = Run(LayerKernelPreference.Managed);
        var native = Run(LayerKernelPreference.Native);
        Assert.AreEqual("native", layer.KernelName);
        CollectionAssert.AreEqual(managed.Y.isneginf().data<bool>().ToArray(), native.Y.isneginf().data<bool>().ToArray(), "the same outputs are −∞");
        // A CP fold reads a whole row; a mixing unit is −∞ only where all its slots are, so 30 % −∞ entries make some.
        Assert.IsTrue(native.Y.isneginf().any().item<bool>(), "some output is −∞");
        var finiteOut = managed.Y.isfinite();
        AssertClose(managed.Y.masked_select(finiteOut), native.Y.masked_select(finiteOut), "finite outputs");
        // Gradients: where the managed kernel's are defined (a wholly −∞ slot gives it 0·∞ = NaN) they agree; the
        // native kernel gives such a slot no gradient at all, and nowhere NaN.
        Assert.IsFalse(native.Grad.isnan().any().item<bool>(), "no NaN in the native input gradient");
        Assert.IsFalse(native.WeightGrad.isnan().any().item<bool>(), "no NaN in the native weight gradient");
        var defined = managed.Grad.isfinite();
        AssertClose(managed.Grad.masked_select(defined), native.Grad.masked_select(defined), "input gradient");
        if (!managed.WeightGrad.isnan().any().item<bool>())
            AssertClose(managed.WeightGrad, native.WeightGrad, "weight gradient");
    }

    [TestMethod]
    [DataRow(LayerKind.CP, false)]
    [DataRow(LayerKind.CPXS, false)]
    [DataRow(LayerKind.CP, true)]
    public void OnScaledLinearValuesZeroVectorsAndZeroEntriesAgreeWithTheManagedKernel(LayerKind kind, bool mixing)
    {
        RequireNative();
        var (circuit, layer) = LayerCase(kind, mixing);
        using var owned = circuit;
        using var generator = new Generator(7, torch.CPU);
        // Zero entries everywhere (−∞ log-values) and one zero vector (image 2 of row 0): linear 0, the floor scale.
        var values = Semiring.ScaledLinear.FromLogValues(RandomSourceValues(layer, 9, wholeRow: true, generator));
        Assert.AreEqual(ScaledLinearSemiring.ZeroScale, values[0, 2, layer.InputUnits].item<float>());
        // A mixing unit is zero only where all its slots are: image 2 a zero vector in every row.
        if (mixing) values[TensorIndex.Colon, 2] = values[0, 2];

        (Tensor Y, Tensor Grad, Tensor WeightGrad) Run(LayerKernelPreference preference)
        {
            circuit.KernelPreference = preference;
            circuit.zero_grad();
            var source = values.clone().requires_grad_();
            var y = layer.Forward(Split(layer, source), Semiring.ScaledLinear);
            Assert.AreEqual(preference == LayerKernelPreference.Native ? "native" : "managed", layer.KernelNameFor(Semiring.ScaledLinear));
            var g = torch.rand(y.shape, generator: new Generator(9, torch.CPU));
            y.mul(g).sum().backward();
            return (y.detach().clone(), source.grad!.clone(), layer.parameters().First().grad!.clone());
        }
        var managed = Run(LayerKernelPreference.Managed);
        var native = Run(LayerKernelPreference.Native);
        var scales = native.Y.narrow(-1, layer.OutputUnits, 1);
        Assert.IsTrue(scales.eq(ScaledLinearSemiring.ZeroScale).any().item<bool>(), "some output is the zero vector");
        CollectionAssert.AreEqual(managed.Y.eq(0).data<bool>().ToArray(), native.Y.eq(0).data<bool>().ToArray(), "the same entries are 0");
        CollectionAssert.AreEqual(managed.Y.narrow(-1, layer.OutputUnits, 1).eq(ScaledLinearSemiring.ZeroScale).data<bool>().ToArray(),
            scales.eq(ScaledLinearSemiring.ZeroScale).data<bool>().ToArray(), "the same outputs are the zero vector");
        AssertClose(managed.Y.narrow(-1, 0, layer.OutputUnits), native.Y.narrow(-1, 0, layer.OutputUnits), "linear parts");
        var real = scales.ne(ScaledLinearSemiring.ZeroScale);
        AssertClose(managed.Y.narrow(-1, layer.OutputUnits, 1).masked_select(real), scales.masked_select(real), "log-scales");
        Assert.IsFalse(native.Grad.isnan().any().item<bool>() || native.WeightGrad.isnan().any().item<bool>(), "no NaN gradient");
        AssertClose(managed.Grad, native.Grad, "input gradient");
        Assert.AreEqual(0.0, native.Grad.narrow(-1, layer.InputUnits, 1).abs().max().item<float>(), "no gradient reaches a log-scale");
        AssertClose(managed.WeightGrad, native.WeightGrad, "weight gradient");
    }

    [TestMethod]
    [DataRow(LayerKernelPreference.Native)]
    [DataRow(LayerKernelPreference.Managed)]
    public void SourcesOfAnotherShapeAreRefusedBeforeAnyKernelReadsThem(LayerKernelPreference preference)
    {
        if (preference == LayerKernelPreference.Native) RequireNative();
        // The native kernels read the sources by address: log-values (K wide) handed to a scaled-linear pass (K + 1)
        // would be read past their end.
        var (circuit, layer) = LayerCase(LayerKind.CP, mixing: false);
        using var owned = circuit;
        circuit.KernelPreference = preference;
        using var generator = new Generator(3, torch.CPU);
        var logValues = Split(layer, RandomSourceValues(layer, 4, wholeRow: false, generator));
        var error = Assert.ThrowsExactly<ArgumentException>(() => layer.Forward(logValues, Semiring.ScaledLinear));
        StringAssert.Contains(error.Message, $"B, {layer.InputUnits + 1}) over scaled-linear");
        var fewerRows = logValues.Select(v => v.narrow(0, 0, v.shape[0] - 1)).ToArray();
        Assert.ThrowsExactly<ArgumentException>(() => layer.Forward(fewerRows, Semiring.LogSumExp));
        var otherBatch = logValues.Select((v, i) => i == logValues.Length - 1 ? v.narrow(1, 0, 3) : v).ToArray();
        if (otherBatch.Length > 1) Assert.ThrowsExactly<ArgumentException>(() => layer.Forward(otherBatch, Semiring.LogSumExp));
        using var _ = torch.no_grad();
        Assert.AreEqual(4, layer.Forward(logValues, Semiring.LogSumExp).shape[1], "the right shapes still pass");
    }

    [TestMethod]
    public void TheNativeConversionToScaledLinearValuesAgreesWithTheSemiringsOnValuesAndGradients()
    {
        RequireNative();
        using var generator = new Generator(13, torch.CPU);
        // 70 rows (more than one chunk of 64), K = 11 (not a multiple of 8); −∞ entries, one row entirely −∞, one row
        // holding a NaN, and rows whose spread puts entries far below the maximum.
        var values = torch.randn([7, 10, 11], generator: generator) * 30;
        values = values.masked_fill(torch.rand([7, 10, 11], generator: generator) < 0.2, double.NegativeInfinity);
        values[2, 3] = torch.full([11], double.NegativeInfinity);
        values[4, 5, 6] = torch.tensor(float.NaN);
        var managedSource = values.clone().requires_grad_();
        var nativeSource = values.clone().requires_grad_();
        var managed = Semiring.ScaledLinear.FromLogValues(managedSource);
        var native = global::Microsoft.ML.Circuits.Kernels.ToScaledFunction.Apply(nativeSource);
        CollectionAssert.AreEqual(managed.shape, native.shape);
        CollectionAssert.AreEqual(managed.isnan().data<bool>().ToArray(), native.isnan().data<bool>().ToArray(), "NaN at the same places");
        var defined = managed.isnan().logical_not();
        AssertClose(managed.masked_select(defined), native.masked_select(defined), "values", tolerance: 1e-5);
        Assert.AreEqual(ScaledLinearSemiring.ZeroScale, native[2, 3, 11].item<float>(), "a wholly −∞ row is the zero vector");
        Assert.AreEqual(0.0, native[2, 3].narrow(0, 0, 11).abs().max().item<float>());
        var g = torch.rand(managed.shape, generator: generator);
        managed.masked_fill(managed.isnan(), 0).mul(g).sum().backward();
        native.masked_fill(native.isnan(), 0).mul(g).sum().backward();
        // The row holding a NaN has NaN gradients (0·NaN), in both.
        CollectionAssert.AreEqual(managedSource.grad!.isnan().data<bool>().ToArray(), nativeSource.grad!.isnan().data<bool>().ToArray(), "NaN gradients at the same places");
        var definedGrad = managedSource.grad!.isnan().logical_not();
        AssertClose(managedSource.grad!.masked_select(definedGrad), nativeSource.grad!.masked_select(definedGrad), "gradients", tolerance: 1e-5);
        using (torch.no_grad())
            AssertClose(managed.detach().masked_fill(managed.detach().isnan(), 0), global::Microsoft.ML.Circuits.Kernels.ToScaledFunction.Apply(values).masked_fill(native.detach().isnan(), 0),
                "values without autograd", tolerance: 1e-5);
    }

    [TestMethod]
    [DataRow(LayerKind.CP, false)]
    [DataRow(LayerKind.CPXS, false)]
    [DataRow(LayerKind.Tucker, false)]
    [DataRow(LayerKind.CP, true)]
    public void ANaNInputGivesNaNOutputsAsTheManagedKernelDoes(LayerKind kind, bool mixing)
    {
        RequireNative();
        var (circuit, layer) = LayerCase(kind, mixing);
        using var owned = circuit;
        using var generator = new Generator(11, torch.CPU);
        var values = RandomSourceValues(layer, 5, wholeRow: false, generator);
        // One NaN entry per source row, in image 3, in different units (and one row whose maximum comes after it).
        for (long r = 0; r < values.shape[0]; r++) values[r, 3, r % layer.InputUnits] = torch.tensor(float.NaN);
        Tensor Run(LayerKernelPreference preference)
        {
            circuit.KernelPreference = preference;
            using var _ = torch.no_grad();
            return layer.Forward(Split(layer, values), Semiring.LogSumExp);
        }
        var managed = Run(LayerKernelPreference.Managed);
        var native = Run(LayerKernelPreference.Native);
        Assert.IsTrue(native.isnan().any().item<bool>(), "NaN reaches the output");
        CollectionAssert.AreEqual(managed.isnan().data<bool>().ToArray(), native.isnan().data<bool>().ToArray(), "NaN at the same outputs");
        Assert.IsFalse(native.narrow(1, 0, 3).isnan().any().item<bool>(), "images without NaN inputs are not NaN");
    }

    [TestMethod]
    [DataRow(LayerKind.CP, "CircuitsNativeCp", true, RegionGraphKind.QuadGraph)]
    [DataRow(LayerKind.CP, "CircuitsNativeMixing", true, RegionGraphKind.QuadGraph)]
    [DataRow(LayerKind.CP, "CircuitsNativeCpScaled", false, RegionGraphKind.QuadGraph)]
    [DataRow(LayerKind.CP, "CircuitsNativeMixingScaled", false, RegionGraphKind.QuadGraph)]
    [DataRow(LayerKind.CP, "CircuitsNativeInputScaled", false, RegionGraphKind.QuadGraph)]
    [DataRow(LayerKind.CP, "CircuitsNativeInputScaled", false, RegionGraphKind.PoonDomingos)]
    // The steps the fused input kernel replaces (they still run with missing pixels): with the fusion off.
    [DataRow(LayerKind.CP, "CircuitsNativeToScaled", false, RegionGraphKind.PoonDomingos)]
    [DataRow(LayerKind.CP, "CircuitsNativeInput", false, RegionGraphKind.QuadGraph)]
    [DataRow(LayerKind.CP, "CircuitsNativeInput", true, RegionGraphKind.QuadGraph)]
    [DataRow(LayerKind.CP, "CircuitsNativeSourceGradient", false, RegionGraphKind.QuadGraph)]
    [DataRow(LayerKind.Tucker, "CircuitsNativeTucker", false, RegionGraphKind.QuadGraph)]
    public void AFailureInsideANativeBackwardPassReachesTheCallerInsteadOfEndingTheProcess(LayerKind kind, string function, bool logSpace, RegionGraphKind graph)
    {
        RequireNative();
        // libtorch calls the native functions' backward passes under native frames, where a managed exception would end
        // the process (an allocation that runs out of memory, say). The failure must reach the training step's caller,
        // with nothing updated, and a backward pass started by the caller must report it at the next forward pass.
        var description = TinyCircuits.Tiny(graph, kind, 5, 5, 1, 7, units: 4, freeze: MixingFreeze.None)
            with { PoonDomingosDelta = graph == RegionGraphKind.PoonDomingos ? 2 : 1 };
        using var circuit = new TensorizedCircuit(description, seed: 3) { KernelPreference = LayerKernelPreference.Native };
        var x = TinyCircuits.RandomImages(description, 8, seed: 4);
        // The CP circuit trains on the scaled-linear path by default; its log-sum-exp functions run on that path.
        var semiring = logSpace ? Semiring.LogSumExp : Semiring.SumProductFor(circuit);
        using var step = new Microsoft.ML.Circuits.Training.TrainingStep(circuit, new Microsoft.ML.Circuits.Training.TrainerOptions { LearningRate = 0.1 }, semiring);
        Tensor LogCircuit() => new MarginalQuery(circuit) { Semiring = semiring }.LogCircuit(x, null);
        var before = circuit.parameters().Select(p => p.detach().clone()).ToArray();
        bool fuse = TensorizedCircuit.FuseScaledInput;
        try
        {
            TensorizedCircuit.FuseScaledInput = function is not ("CircuitsNativeToScaled" or "CircuitsNativeInput");
            Microsoft.ML.Circuits.Kernels.NativeAutograd.Fault = name => name == function ? new OutOfMemoryException($"injected into {name}") : null;
            var error = Assert.Throws<OutOfMemoryException>(() => step.Run(x, 0.1));
            StringAssert.Contains(error.Message, function);
            var after = circuit.parameters().Select(p => p.detach()).ToArray();
            for (int p = 0; p < before.Length; p++)
                Assert.IsTrue(before[p].allclose(after[p], rtol: 0, atol: 0), $"parameter {p} was not updated");
            LogCircuit().sum().backward();
        }
        finally
        {
            Microsoft.ML.Circuits.Kernels.NativeAutograd.Fault = null;
        }
        try
        {
            Assert.Throws<OutOfMemoryException>(() => LogCircuit(), "the caller's own backward pass failed: the next forward pass says so");
        }
        finally
        {
            TensorizedCircuit.FuseScaledInput = fuse;
        }
        circuit.zero_grad();
        Assert.IsNull(step.Run(x, 0.1).NonFinite, "once reported, the failure is gone and training goes on");
    }

    [TestMethod]
    public void TheKernelsFlushSubnormalsOnlyWhileTheyRunAndLeaveTheThreadsFloatingPointModeAsItWas()
    {
        RequireNative();
        // The native kernels set the FTZ and DAZ bits of MXCSR (subnormals as zero: an FMA meeting one is a microcode
        // assist) and must restore them: .NET's own float arithmetic runs in the same SSE unit of the same threads.
        static bool SubnormalsWork()
        {
            float tiny = Volatile.Read(ref SmallestNormal);
            return tiny * 0.5f != 0f && tiny * 0.5f < tiny;
        }
        Assert.IsTrue(SubnormalsWork(), "the test thread starts with gradual underflow");
        var description = TinyCircuits.Tiny(RegionGraphKind.QuadGraph, LayerKind.Tucker, 5, 5, 1, 7, units: 4, freeze: MixingFreeze.None);
        using var circuit = new TensorizedCircuit(description, seed: 3) { KernelPreference = LayerKernelPreference.Native };
        var x = TinyCircuits.RandomImages(description, 64, seed: 4);
        for (int i = 0; i < 3; i++) circuit.LogCircuit(x).mean().backward();
        Assert.IsTrue(SubnormalsWork(), "the calling thread's mode is restored");
        int flushed = 0;
        Parallel.For(0, 256, _ => { if (!SubnormalsWork()) Interlocked.Increment(ref flushed); });
        Assert.AreEqual(0, flushed, "the pool threads that ran kernel ranges have their mode restored");
    }

    static float SmallestNormal = 1.17549435e-38f;

    [TestMethod]
    public void AutoRunsTheNativeKernelsButLeavesTheScoringReferenceToTheManagedOnes()
    {
        RequireNative();
        var description = TinyCircuits.Tiny(RegionGraphKind.QuadGraph, LayerKind.CP, 5, 5, 1, 7, units: 5);
        using var circuit = new TensorizedCircuit(description, seed: 3);
        var x = TinyCircuits.RandomImages(description, 20, seed: 4);
        using var _ = torch.no_grad();
        circuit.KernelPreference = LayerKernelPreference.Managed;
        var managedScore = MarginalQuery.Upward(circuit, x, null, Semiring.Scoring, null);
        var managedLse = MarginalQuery.Upward(circuit, x, null, Semiring.LogSumExp, null);
        circuit.KernelPreference = LayerKernelPreference.Auto;
        Assert.IsTrue(circuit.Layers.All(l => l.KernelName == (l is CpLayer or MixingLayer ? "native" : "managed")));
        Assert.AreSame(Semiring.ScaledLinear, Semiring.SumProductFor(circuit), "the default path: scaled-linear, which the CP and mixing kernels compute");
        Assert.IsTrue(circuit.Layers.All(l => l.KernelNameFor(Semiring.ScaledLinear) == l.KernelName), "every native layer computes it natively");
        var autoScore = MarginalQuery.Upward(circuit, x, null, Semiring.Scoring, null);
        var autoLse = MarginalQuery.Upward(circuit, x, null, Semiring.LogSumExp, null);
        CollectionAssert.AreEqual(managedScore.data<float>().ToArray(), autoScore.data<float>().ToArray(), "scores are bit for bit the managed kernel's");
        AssertClose(managedLse, autoLse, "log c(x) on the native kernels", floor: 1);
        Assert.IsFalse(managedLse.allclose(autoLse, rtol: 0, atol: 0), "the log-sum-exp pass did run natively (it rounds differently)");
        circuit.KernelPreference = LayerKernelPreference.Native;
        var nativeScore = MarginalQuery.Upward(circuit, x, null, Semiring.Scoring, null);
        AssertClose(managedScore, nativeScore, "scores on the explicitly chosen native kernels", floor: 1);
    }

    [TestMethod]
    public void TheMLNetKernelOptionReachesTheFittedCircuit()
    {
        var ml = new MLContext(seed: 1);
        var rows = Microsoft.ML.Circuits.Tests.MLNet.MLNetData.Digits(Microsoft.ML.Circuits.Tests.MLNet.MLNetData.Train, 128);
        var options = Microsoft.ML.Circuits.Tests.MLNet.MLNetData.SmallOptions();
        options.MaxEpochs = 1;
        options.Kernel = LayerKernelPreference.Native;
        if (TensorizedCircuit.NativeKernelsUnavailable is { } reason)
        {
            var error = Assert.Throws<ArgumentException>(() => ml.Transforms.ProbabilisticCircuit(options));
            Assert.AreEqual("Kernel", error.ParamName);
            StringAssert.Contains(error.Message, reason);
            return;
        }
        using var model = ml.Transforms.ProbabilisticCircuit(options).Fit(ml.Data.LoadFromEnumerable(rows));
        Assert.AreEqual(LayerKernelPreference.Native, model.Circuit.KernelPreference);
        Assert.IsTrue(model.Circuit.Layers.Any(l => l.KernelName == "native"));
        options.Kernel = (LayerKernelPreference)5;
        Assert.AreEqual("Kernel", Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.ProbabilisticCircuit(options)).ParamName);
    }

    [TestMethod]
    public void TheKernelIsChosenPerLayerAndThePreferenceIsChecked()
    {
        var description = TinyCircuits.Tiny(RegionGraphKind.QuadGraph, LayerKind.CP, 4, 4, 1, 3);
        using var circuit = new TensorizedCircuit(description, seed: 1);
        circuit.KernelPreference = LayerKernelPreference.Managed;
        Assert.IsTrue(circuit.Layers.All(l => l.KernelName == "managed"));
        Assert.Throws<ArgumentOutOfRangeException>(() => circuit.KernelPreference = (LayerKernelPreference)9);
        if (TensorizedCircuit.NativeKernelsUnavailable is { } reason)
        {
            var error = Assert.Throws<NotSupportedException>(() => circuit.KernelPreference = LayerKernelPreference.Native);
            StringAssert.Contains(error.Message, reason);
            Assert.AreEqual(LayerKernelPreference.Managed, circuit.KernelPreference, "a refused preference changes nothing");
            circuit.KernelPreference = LayerKernelPreference.Auto;
            Assert.IsTrue(circuit.Layers.All(l => l.KernelName == "managed"), "Auto without the library is managed");
            return;
        }
        circuit.KernelPreference = LayerKernelPreference.Native;
        foreach (var layer in circuit.Layers)
            Assert.AreEqual(layer is CpLayer or MixingLayer ? "native" : "managed", layer.KernelName, $"layer {layer.Spec.Index} ({layer.Spec.Kind})");
        using var uncollapsed = new TensorizedCircuit(TinyCircuits.Tiny(RegionGraphKind.QuadGraph, LayerKind.UncollapsedCP, 4, 4, 1, 3), seed: 1);
        uncollapsed.KernelPreference = LayerKernelPreference.Native;
        Assert.IsTrue(uncollapsed.Layers.OfType<UncollapsedCpLayer>().All(l => l.KernelName == "managed"), "uncollapsed CP layers have no native kernel");
        Assert.IsTrue(uncollapsed.Layers.OfType<MixingLayer>().All(l => l.KernelName == "native"), "their mixing layers have one");
        using var tucker = new TensorizedCircuit(TinyCircuits.Tiny(RegionGraphKind.QuadGraph, LayerKind.Tucker, 4, 4, 1, 3), seed: 1);
        tucker.KernelPreference = LayerKernelPreference.Native;
        Assert.IsTrue(tucker.Layers.OfType<TuckerLayer>().All(l => l.KernelName == "native"), "Tucker layers have a native kernel");
        circuit.KernelPreference = LayerKernelPreference.Auto;
        Assert.IsTrue(circuit.Layers.All(l => l.KernelName == (l is CpLayer or MixingLayer ? "native" : "managed")), "Auto with the library is native where it applies");
    }

    [TestMethod]
    [DataRow(LayerKind.CP, 16)]
    [DataRow(LayerKind.CP, 21)]
    [DataRow(LayerKind.CPXS, 33)]
    [DataRow(LayerKind.CP, 48)]
    [DataRow(LayerKind.Tucker, 17)]
    public void TheNativeKernelsGiveTheSameResultsBitForBitOnEitherVectorWidth(LayerKind layer, int units)
    {
        RequireNative();
        if (!Microsoft.ML.Circuits.Kernels.CircuitsNative.Avx512Available)
            Assert.Inconclusive("This CPU lacks AVX-512F: the native kernels have one vector width here.");
        // gemm_avx512.cpp computes the whole 16-column blocks (in 32-column blocks of 6 rows where 32 columns are left:
        // units 33 and 48, then 8-row blocks; units 21 and 33 leave a tail to the 8-float kernel, 17 a single column)
        // by the same chain of FMAs as gemm.h, and fast_math_avx512.cpp the exps and logs of whole
        // 16-float blocks (27 images: a tail of 11 to the 8-float loop) by libmvec's 16-lane functions, which give
        // the 8-lane ones' results: values and gradients equal, not merely close.
        var description = TinyCircuits.Tiny(RegionGraphKind.QuadGraph, layer, 4, 4, 1, 5, units: units, freeze: MixingFreeze.None);
        using var circuit = new TensorizedCircuit(description, seed: 3);
        var x = TinyCircuits.RandomImages(description, 27, seed: 4);
        var semiring = layer == LayerKind.Tucker ? Semiring.LogSumExp : Semiring.ScaledLinear;
        int before = Microsoft.ML.Circuits.Kernels.CircuitsNative.VectorWidth;
        try
        {
            Assert.IsTrue(Microsoft.ML.Circuits.Kernels.CircuitsNative.TrySetVectorWidth(8));
            var narrow = Pass(circuit, x, LayerKernelPreference.Native, semiring);
            Assert.IsTrue(Microsoft.ML.Circuits.Kernels.CircuitsNative.TrySetVectorWidth(16));
            var wide = Pass(circuit, x, LayerKernelPreference.Native, semiring);
            AssertIdentical(narrow, wide);
            Assert.IsFalse(Microsoft.ML.Circuits.Kernels.CircuitsNative.TrySetVectorWidth(32), "only 8 and 16 are widths");
        }
        finally
        {
            Microsoft.ML.Circuits.Kernels.CircuitsNative.TrySetVectorWidth(before);
        }
    }

    [TestMethod]
    [DataRow(RegionGraphKind.QuadGraph, 6, 4)]
    [DataRow(RegionGraphKind.QuadTree, 6, 4)]
    [DataRow(RegionGraphKind.QuadTree, 6, 5)]
    [DataRow(RegionGraphKind.PoonDomingos, 20, 4)]
    public void TheScaledCpKernelsGiveTheSameBitsOnOneThreadAndOnSeveral(RegionGraphKind graph, int units, int size)
    {
        RequireNative();
        // The CP backward pass runs fused (one pass over chunks of 64 images: the slots' gradients, each chunk's share
        // of the weight gradient, the input gradient) or in two passes (the weight half over the folds, then the input
        // half over the images, which computes the slots' gradients again per chunk unless the weight half keeps them);
        // either way the weight gradient is summed per chunk of 64 images, then over the chunks in order. 150 images
        // make chunks of 64, 64 and 22: on one thread all three, on three threads one each, in the input half ranges of
        // 50. Every value must come out the same on any thread count and in every form (quad trees' 4-ary partitions
        // rescale their slots; units 20 keep the slots' factors instead of computing them again, and by default run in
        // two passes, their gradients computed again; quad trees on 5 × 5 pad folds).
        var description = TinyCircuits.Tiny(graph, LayerKind.CP, size, size, 1, 5, units: units, freeze: MixingFreeze.None);
        using var circuit = new TensorizedCircuit(description, seed: 8);
        var x = TinyCircuits.RandomImages(description, 150, seed: 9);
        int threads = torch.get_num_threads();
        var keep = Microsoft.ML.Circuits.Kernels.CpScaledFunction.KeepSlotGradients;
        var fuse = Microsoft.ML.Circuits.Kernels.CpScaledFunction.FuseBackward;
        int minimumRows = Microsoft.ML.Circuits.Kernels.DeferredGradient.MinimumRows;
        try
        {
            Microsoft.ML.Circuits.Kernels.DeferredGradient.MinimumRows = 1;   // these tiny circuits' sources are all small
            torch.set_num_threads(1);
            Microsoft.ML.Circuits.Kernels.CpScaledFunction.FuseBackward = true;
            var one = Pass(circuit, x, LayerKernelPreference.Native, Semiring.ScaledLinear);
            torch.set_num_threads(3);
            var several = Pass(circuit, x, LayerKernelPreference.Native, Semiring.ScaledLinear);
            Microsoft.ML.Circuits.Kernels.CpScaledFunction.FuseBackward = false;
            Microsoft.ML.Circuits.Kernels.CpScaledFunction.KeepSlotGradients = false;
            var twoPasses = Pass(circuit, x, LayerKernelPreference.Native, Semiring.ScaledLinear);
            torch.set_num_threads(1);
            var twoPassesOne = Pass(circuit, x, LayerKernelPreference.Native, Semiring.ScaledLinear);
            Microsoft.ML.Circuits.Kernels.CpScaledFunction.KeepSlotGradients = true;
            var kept = Pass(circuit, x, LayerKernelPreference.Native, Semiring.ScaledLinear);
            torch.set_num_threads(3);
            Microsoft.ML.Circuits.Kernels.KernelWorkers.Use = false;   // the ranges through Parallel.For
            var pool = Pass(circuit, x, LayerKernelPreference.Native, Semiring.ScaledLinear);
            Microsoft.ML.Circuits.Kernels.KernelWorkers.Use = null;
            // The mixing layers' sources' gradients written by them instead of left to the CP layers, and left but then
            // materialised by the output's gradient node.
            long deferred = Microsoft.ML.Circuits.Kernels.DeferredGradient.Deferred;
            Microsoft.ML.Circuits.Kernels.DeferredGradient.Defer = false;
            var written = Pass(circuit, x, LayerKernelPreference.Native, Semiring.ScaledLinear);
            Microsoft.ML.Circuits.Kernels.DeferredGradient.Defer = null;
            Microsoft.ML.Circuits.Kernels.DeferredGradient.ForceMaterialize = true;
            long materialized = Microsoft.ML.Circuits.Kernels.DeferredGradient.Materialized;
            var materializedPass = Pass(circuit, x, LayerKernelPreference.Native, Semiring.ScaledLinear);
            Microsoft.ML.Circuits.Kernels.DeferredGradient.ForceMaterialize = false;
            if (graph != RegionGraphKind.QuadTree)   // quad trees have no mixing layers
            {
                Assert.IsTrue(Microsoft.ML.Circuits.Kernels.DeferredGradient.Deferred > deferred, "a mixing layer left its source's gradient");
                Assert.IsTrue(Microsoft.ML.Circuits.Kernels.DeferredGradient.Materialized > materialized, "a deferred gradient was materialised");
            }
            Assert.IsTrue(circuit.Layers.Any(l => l is CpLayer && l.KernelName == "native"), "a native CP layer ran");
            AssertIdentical(one, written);
            AssertIdentical(one, materializedPass);
            AssertIdentical(one, pool);
            AssertIdentical(one, several);
            AssertIdentical(one, twoPasses);
            AssertIdentical(one, twoPassesOne);
            AssertIdentical(one, kept);
            var reference = Pass(circuit, x, LayerKernelPreference.Managed, Semiring.ScaledLinear);
            for (int p = 0; p < one.DataGradients.Length; p++)
                AssertClose(reference.DataGradients[p], several.DataGradients[p], $"native vs managed, ∂ mean log c(x) / ∂ parameter {p}");
        }
        finally
        {
            torch.set_num_threads(threads);
            Microsoft.ML.Circuits.Kernels.CpScaledFunction.KeepSlotGradients = keep;
            Microsoft.ML.Circuits.Kernels.CpScaledFunction.FuseBackward = fuse;
            Microsoft.ML.Circuits.Kernels.KernelWorkers.Use = null;
            Microsoft.ML.Circuits.Kernels.DeferredGradient.Defer = null;
            Microsoft.ML.Circuits.Kernels.DeferredGradient.ForceMaterialize = false;
            Microsoft.ML.Circuits.Kernels.DeferredGradient.MinimumRows = minimumRows;
        }
    }

    [TestMethod]
    [DataRow(RegionGraphKind.QuadGraph, LayerKind.CP)]
    [DataRow(RegionGraphKind.QuadTree, LayerKind.CP)]
    [DataRow(RegionGraphKind.QuadTree, LayerKind.CPXS)]
    [DataRow(RegionGraphKind.PoonDomingos, LayerKind.CP)]
    [DataRow(RegionGraphKind.RandomBinaryTree, LayerKind.CPXS)]
    public void TheScaledCpKernelsGiveTheSameGradientsWhetherTheyKeepOrRecomputeTheSlotsFactors(RegionGraphKind graph, LayerKind layer)
    {
        RequireNative();
        // Recomputing runs the forward pass's GEMM and division again on the same inputs: the same bits, not merely close.
        // Quad trees' 4-ary partitions rescale each slot's factor (the saved divisors are used again); CP-XS shares
        // its matrices across the folds.
        var description = TinyCircuits.Tiny(graph, layer, 4, 4, 1, 5, units: 6, freeze: MixingFreeze.None);
        using var circuit = new TensorizedCircuit(description, seed: 5);
        var x = TinyCircuits.RandomImages(description, 21, seed: 6);
        var before = Microsoft.ML.Circuits.Kernels.CpScaledFunction.RecomputeFactors;
        try
        {
            Microsoft.ML.Circuits.Kernels.CpScaledFunction.RecomputeFactors = false;
            var kept = Pass(circuit, x, LayerKernelPreference.Native, Semiring.ScaledLinear);
            Microsoft.ML.Circuits.Kernels.CpScaledFunction.RecomputeFactors = true;
            var recomputed = Pass(circuit, x, LayerKernelPreference.Native, Semiring.ScaledLinear);
            Assert.IsTrue(circuit.Layers.Any(l => l is CpLayer or SharedCpLayer && l.KernelName == "native"), "a native CP-family layer ran");
            AssertIdentical(kept, recomputed);
            var reference = Pass(circuit, x, LayerKernelPreference.Managed, Semiring.ScaledLinear);
            for (int p = 0; p < kept.DataGradients.Length; p++)
                AssertClose(reference.DataGradients[p], recomputed.DataGradients[p], $"recomputed vs managed, ∂ mean log c(x) / ∂ parameter {p}");
        }
        finally
        {
            Microsoft.ML.Circuits.Kernels.CpScaledFunction.RecomputeFactors = before;
        }
    }

    [TestMethod]
    [DataRow(RegionGraphKind.QuadGraph, 1, 1.0, 1)]
    [DataRow(RegionGraphKind.RandomBinaryTree, 3, 1.0, 1)]
    [DataRow(RegionGraphKind.QuadTree, 3, 40.0, 1)]
    [DataRow(RegionGraphKind.PoonDomingos, 1, 1.0, 2)]
    [DataRow(RegionGraphKind.PoonDomingos, 3, 40.0, 3)]
    public void TheFusedInputKernelAgreesWithTheInputLayerAndTheConversionInSteps(RegionGraphKind graph, int channels, double logitScale, int delta)
    {
        RequireNative();
        // input_kernels.cpp turns the logits and the pixels into the scaled-linear input regions in one pass (its own
        // log-softmax normalisers); the steps it replaces are libtorch's log-softmax, the native gather, the regions'
        // sums and the native conversion. Replicas (random binary tree: 2), channels (3), input regions of several
        // pixels (Poon–Domingos with δ 2 and 3, regions of unequal sizes on 4 × 4) and logits of large magnitude (×40,
        // so most probabilities underflow against the largest) included.
        var description = TinyCircuits.Tiny(graph, LayerKind.CP, 4, 4, channels, 6, units: 5, freeze: MixingFreeze.None)
            with { PoonDomingosDelta = delta };
        using var circuit = new TensorizedCircuit(description, seed: 3);
        using (torch.no_grad()) circuit.Input.Logits.mul_(logitScale);
        Assert.AreEqual(delta > 1, circuit.Plan.InputRows.Max(r => r.Length) > 1, "Poon–Domingos with δ > 1: input regions of several pixels");
        var x = TinyCircuits.RandomImages(description, 19, seed: 4);
        bool before = TensorizedCircuit.FuseScaledInput;
        try
        {
            TensorizedCircuit.FuseScaledInput = false;
            var steps = Pass(circuit, x, LayerKernelPreference.Native, Semiring.ScaledLinear);
            TensorizedCircuit.FuseScaledInput = true;
            circuit.KernelPreference = LayerKernelPreference.Native;
            Assert.IsNotNull(circuit.EvaluateScaledPixels(x, Semiring.ScaledLinear), "the fused kernel serves this circuit");
            var fused = Pass(circuit, x, LayerKernelPreference.Native, Semiring.ScaledLinear);
            AssertClose(steps.LogCircuit, fused.LogCircuit, "log c(x)", tolerance: 1e-5, floor: 1);
            AssertClose(steps.LogZ, fused.LogZ, "log Z", tolerance: 1e-5, floor: 1);
            double overall = steps.DataGradients.Max(g => g.abs().max().item<float>());
            for (int p = 0; p < steps.DataGradients.Length; p++)
                AssertClose(steps.DataGradients[p], fused.DataGradients[p], $"∂ mean log c(x) / ∂ parameter {p}", tolerance: 1e-4, floor: overall);
            Assert.IsTrue(fused.DataGradients[0].abs().max().item<float>() > 0, "the logits get a gradient");
        }
        finally
        {
            TensorizedCircuit.FuseScaledInput = before;
        }
    }

    [TestMethod]
    public void TheFusedInputKernelRefusesAPixelOutsideTheCategories()
    {
        RequireNative();
        var description = TinyCircuits.Tiny(RegionGraphKind.QuadGraph, LayerKind.CP, 4, 4, 1, 6, units: 4);
        using var circuit = new TensorizedCircuit(description, seed: 3) { KernelPreference = LayerKernelPreference.Native };
        var x = TinyCircuits.RandomImages(description, 5, seed: 4);
        x[3, 7, 0] = torch.tensor(6L);
        // The unchecked path (a training step's) reaches the kernel without a range check of its own.
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => MarginalQuery.Upward(circuit, x, null, Semiring.ScaledLinear, null));
        StringAssert.Contains(error.Message, "0..5");
    }
}
