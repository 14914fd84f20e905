using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Circuits.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Tests;

/// <summary>CUDA checks: they run where TorchSharp finds a CUDA device and report inconclusive elsewhere.</summary>
[TestClass]
public sealed class GpuTests
{
    static Device Cuda()
    {
        if (!ComputeDevice.CudaAvailable) Assert.Inconclusive("No CUDA device: see docs/gpu.md for running with a CUDA libtorch.");
        return ComputeDevice.Parse("cuda");
    }

    [TestMethod]
    [DataRow(RegionGraphKind.QuadGraph, LayerKind.CP)]
    [DataRow(RegionGraphKind.PoonDomingos, LayerKind.Tucker)]
    [DataRow(RegionGraphKind.QuadTree, LayerKind.CPS)]
    public void CudaGivesTheCpuLogLikelihoods(RegionGraphKind graph, LayerKind layer)
    {
        var cuda = Cuda();
        var description = new CircuitDescription { RegionGraph = graph, Layer = layer, Units = 4 };
        using var cpu = new TensorizedCircuit(description, seed: 3);
        using var gpu = new TensorizedCircuit(description, seed: 3, device: cuda);
        var test = Datasets.Load("mnist").Test;
        using var x = test.Batch(0, 64);
        using var xg = x.to(cuda);
        using var _ = torch.no_grad();
        using var a = cpu.LogLikelihood(x);
        using var b = gpu.LogLikelihood(xg).cpu();
        Assert.IsLessThan(1e-2f, (a - b).abs().max().item<float>());
    }

    [TestMethod]
    public void TrainingOnCudaLowersValidationBitsPerDimension()
    {
        var cuda = Cuda();
        var data = Datasets.Load("mnist");
        using var circuit = new TensorizedCircuit(new CircuitDescription { RegionGraph = RegionGraphKind.QuadGraph, Units = 4 }, device: cuda);
        var report = Trainer.Train(circuit, data, new TrainerOptions { LearningRate = 0.1, MaxEpochs = 2, Device = "cuda" });
        Assert.IsLessThan(report.History[0].ValidBitsPerDimension - 1, report.ValidBitsPerDimension);
    }
}
