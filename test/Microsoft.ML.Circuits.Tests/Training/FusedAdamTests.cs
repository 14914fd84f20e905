using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Circuits.Tests.Kernels;
using Microsoft.ML.Circuits.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Tests.Training;

/// <summary>
/// The one-pass native Adam (<see cref="FusedAdam"/>) against TorchSharp's Adam, step by step: the same weights to
/// float32 rounding with and without weight decay, with a learning rate that changes between steps, a parameter that
/// misses a step's gradient, and sizes with a scalar tail; and the training step's choice between them.
/// </summary>
[TestClass]
public sealed class FusedAdamTests
{
    [TestMethod]
    [DataRow(0.0)]
    [DataRow(0.05)]
    public void TheFusedStepFollowsTorchSharpsAdam(double weightDecay)
    {
        NativeKernelTests.RequireNative();
        using var generator = new Generator(3, torch.CPU);
        long[][] shapes = [[37], [1000], [3, 5, 8]];
        var initial = shapes.Select(s => torch.randn(s, generator: generator)).ToArray();
        Parameter[] Copy() => [.. initial.Select(t => new Parameter(t.clone()))];
        var reference = Copy();
        var fusedParameters = Copy();
        // Two groups, as training has them: the input layer without weight decay, the inner layers with it.
        using var adam = torch.optim.Adam(
            [new Adam.ParamGroup([reference[0]], 0.01, 0.9, 0.999, 1e-8, 0, false, false),
             new Adam.ParamGroup([reference[1], reference[2]], 0.01, 0.9, 0.999, 1e-8, weightDecay, false, false)], 0.01);
        using var fused = new FusedAdam([([fusedParameters[0]], 0.0), ([fusedParameters[1], fusedParameters[2]], weightDecay)]);
        for (int step = 0; step < 8; step++)
        {
            double learningRate = step < 4 ? 0.01 : 0.1;
            for (int p = 0; p < shapes.Length; p++)
            {
                // Parameter 1 gets no gradient in step 2: both optimizers leave it (and its step count) alone.
                var grad = step == 2 && p == 1 ? null : torch.randn(shapes[p], generator: generator) * (p + 1);
                reference[p].grad = grad?.clone();
                fusedParameters[p].grad = grad?.clone();
            }
            foreach (var group in adam.ParamGroups) group.LearningRate = learningRate;
            adam.step();
            fused.Step(learningRate);
            for (int p = 0; p < shapes.Length; p++)
            {
                var expected = reference[p].detach();
                var actual = fusedParameters[p].detach();
                double worst = (expected - actual).abs().max().item<float>();
                double moved = (expected - initial[p]).abs().max().item<float>();
                // Float32 rounding of the moments (fused multiply-adds here, separate passes there) moves the updates by
                // a few units in the last place: bounded against how far the weights moved, and their size.
                Assert.IsTrue(worst <= 2e-5 * moved + 1e-6 * expected.abs().max().item<float>(),
                    $"step {step}, parameter {p}: max difference {worst:E3} (the weights moved by up to {moved:E3})");
            }
        }
        CollectionAssert.AreEqual(new long[] { 8, 7, 8 }, fused.Steps.ToArray(), "a step without a gradient is not counted");
        fused.ClearGradients();
        Assert.IsTrue(fusedParameters.All(p => p.grad is null));
    }

    [TestMethod]
    public void TheTrainingStepUsesTheFusedAdamWhereTheKernelPreferenceRunsNativeKernels()
    {
        var description = new CircuitDescription { RegionGraph = RegionGraphKind.QuadTree, Layer = LayerKind.CP, Units = 2 };
        var data = Datasets.Load("mnist");
        using var x = data.Train.Batch(0, 32);
        (string Optimizer, Tensor[] Weights) Train(LayerKernelPreference preference)
        {
            using var circuit = new TensorizedCircuit(description, seed: 1) { KernelPreference = preference };
            using var step = new TrainingStep(circuit, new TrainerOptions { LearningRate = 0.1, WeightDecay = 0.01 }, Microsoft.ML.Circuits.Semirings.Semiring.LogSumExp);
            for (int i = 0; i < 3; i++) Assert.IsNull(step.Run(x, 0.1).NonFinite);
            return (step.OptimizerName, [.. circuit.parameters().Select(p => p.detach().clone())]);
        }
        var managed = Train(LayerKernelPreference.Managed);
        Assert.AreEqual("managed", managed.Optimizer);
        if (TensorizedCircuit.NativeKernelsUnavailable is not null)
        {
            Assert.AreEqual("managed", Train(LayerKernelPreference.Auto).Optimizer, "without the library, Auto trains with TorchSharp's Adam");
            NativeKernelTests.RequireNative();
        }
        foreach (var preference in new[] { LayerKernelPreference.Auto, LayerKernelPreference.Native })
        {
            var native = Train(preference);
            Assert.AreEqual("native", native.Optimizer, $"{preference}");
            // Three steps of native kernels and the fused Adam land where the managed ones do, to float32 rounding of the
            // gradients as Adam amplifies it (its step m̂/√v̂ does not shrink with a small gradient): the largest
            // difference, in the 4×4×2×2 layer, was 3.2e-4 with the native exp and log of before and 3.6e-4 since every
            // entry goes through libmvec's vector functions (fast_math.cpp), at a learning rate of 0.1.
            for (int p = 0; p < managed.Weights.Length; p++)
                Assert.IsTrue(managed.Weights[p].allclose(native.Weights[p], rtol: 1e-3, atol: 5e-4),
                    $"{preference}: parameter {p} differs by up to {(managed.Weights[p] - native.Weights[p]).abs().max().item<float>()}");
        }
    }
}
