using System.Runtime.InteropServices;
using TorchSharp;

namespace Microsoft.ML.Circuits.Tests;

/// <summary>Impossible sizes are refused from the plan before allocating; libtorch's out-of-memory failures are recognised.</summary>
[TestClass]
public sealed class CircuitMemoryTests
{
    [TestMethod]
    public void ACircuitWhoseWeightsCannotFitIsRefusedBeforeAllocating()
    {
        var huge = new CircuitDescription { ImageHeight = 28, ImageWidth = 28, RegionGraph = RegionGraphKind.QuadTree, Layer = LayerKind.CP, Units = 65536 };
        long before = GC.GetTotalAllocatedBytes();
        var e = Assert.ThrowsExactly<ArgumentException>(() => new TensorizedCircuit(huge));
        StringAssert.Contains(e.Message, "4,548,639,064,064 parameters");
        StringAssert.Contains(e.Message, "memory is available");
        StringAssert.Contains(e.Message, "Reduce Units (K)");
        Assert.IsLessThan(1L << 30, GC.GetTotalAllocatedBytes() - before);
    }

    [TestMethod]
    public void TheTrainingEstimateCountsWeightsOptimiserStateAndActivations()
    {
        var description = new CircuitDescription { ImageHeight = 4, ImageWidth = 4, RegionGraph = RegionGraphKind.QuadGraph, Layer = LayerKind.CP, Units = 3 };
        var plan = Microsoft.ML.Circuits.Structure.CircuitPlanner.Build(description);
        var count = Microsoft.ML.Circuits.Structure.ParameterCount.Of(plan, description);
        long perImage = 16L * 3 + plan.Layers.Sum(l => (long)l.Folds * l.OutputUnits);
        Assert.AreEqual(4 * count.Total, CircuitMemory.WeightBytes(count));
        Assert.AreEqual(5 * 4 * count.Total + 10 * perImage * 2 * 4, CircuitMemory.TrainingBytes(plan, count, 10));
    }

    [TestMethod]
    public void LibtorchOutOfMemoryIsRecognisedAndShortenedToOneLine()
    {
        // 2^48 floats (1 PiB): malloc refuses at once, nothing is touched.
        var oom = Assert.Throws<ExternalException>(() => torch.empty([1L << 48], torch.ScalarType.Float32));
        Assert.IsTrue(CircuitMemory.IsOutOfMemory(oom), oom.Message);
        Assert.IsTrue(CircuitMemory.IsOutOfMemory(new OutOfMemoryException()));
        string line = CircuitMemory.FirstLine(oom);
        Assert.DoesNotContain("\n", line);
        Assert.IsLessThanOrEqualTo(301, line.Length);

        Assert.IsFalse(CircuitMemory.IsOutOfMemory(new ExternalException("mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)")));
    }
}
