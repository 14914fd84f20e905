using static Microsoft.ML.Circuits.Tests.TinyCircuits;

namespace Microsoft.ML.Circuits.Tests.Semirings;

/// <summary>
/// TorchSharp 0.107 passes the α of <c>add</c>/<c>add_</c> as a temporary Scalar that a finalizer can free while libtorch
/// reads it; with a collector running all the time, the layers' additions failed within a few dozen circuits
/// ("argument alpha must not be a floating point number"). They now go through <c>TensorArithmetic</c>.
/// </summary>
[TestClass]
public sealed class GarbageCollectionSafetyTests
{
    [TestMethod]
    public void CircuitsEvaluateCorrectlyWhileTheCollectorRunsConstantly()
    {
        using var stop = new CancellationTokenSource();
        var collector = new Thread(() => { while (!stop.IsCancellationRequested) { GC.Collect(); GC.WaitForPendingFinalizers(); } });
        collector.Start();
        try
        {
            for (int i = 0; i < 100; i++)
            {
                var (h, w, c, n) = Shapes[i % Shapes.Length];
                var (graph, layer) = (i % 2) == 0 ? (RegionGraphKind.QuadTree2, LayerKind.Tucker) : (RegionGraphKind.QuadGraph, LayerKind.CPS);
                var description = Tiny(graph, layer, h, w, c, n, reparameterization: (Reparameterization)(i % 3));
                using var circuit = new TensorizedCircuit(description, seed: i);
                Assert.AreEqual(1.0, TotalProbability(circuit), 1e-4, description.ToString());
            }
        }
        finally
        {
            stop.Cancel();
            collector.Join();
        }
    }

    [TestMethod]
    public void TopDownPassesRunWhileTheCollectorRunsConstantly()
    {
        using var stop = new CancellationTokenSource();
        var collector = new Thread(() => { while (!stop.IsCancellationRequested) { GC.Collect(); GC.WaitForPendingFinalizers(); } });
        collector.Start();
        try
        {
            var combinations = SupportedCombinations().ToArray();
            for (int i = 0; i < 60; i++)
            {
                var (h, w, c, n) = Shapes[i % Shapes.Length];
                var (graph, layer) = combinations[i % combinations.Length];
                var description = Tiny(graph, layer, h, w, c, n, reparameterization: (Reparameterization)(i % 3), freeze: (MixingFreeze)(i % 3));
                using var circuit = new TensorizedCircuit(description, seed: i);
                using var samples = new Circuits.Queries.SamplingQuery(circuit).Sample(64, seed: i);
                using var missing = TorchSharp.torch.ones([64, description.Variables], TorchSharp.torch.ScalarType.Bool);
                using var completed = new Circuits.Queries.MaxProductQuery(circuit).Complete(samples, missing);
                using var inpainted = new Circuits.Queries.SamplingQuery(circuit).SampleConditional(samples, missing, seed: i);
                Assert.AreEqual(64, completed.shape[0], description.ToString());
            }
        }
        finally
        {
            stop.Cancel();
            collector.Join();
        }
    }
}
