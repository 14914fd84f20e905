using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Circuits.Onnx;
using Microsoft.ML.Circuits.Training;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Tests.Onnx;

/// <summary>
/// Exported ONNX models give ONNX Runtime's log-likelihoods equal to TorchSharp's (within 1e-4 relative) on real digits
/// of the bundled MNIST sample, for every region graph × layer kind (mixing layers arise in QG and PD) and every
/// reparameterisation, and for the paper's QG-CP K = 16 on 28×28.
/// </summary>
[TestClass]
public sealed class OnnxExportTests
{
    const double Tolerance = 1e-4;
    static ImageDataset? mnistTest;

    static ImageDataset MnistTest => mnistTest ??= Datasets.Load("mnist").Test;

    /// <summary>The first <paramref name="count"/> test digits, 4×4 average-pooled to 7×7 (real images, small circuits).</summary>
    internal static ImageDataset SmallDigits(int count, int offset = 0)
    {
        var test = MnistTest;
        var pixels = new byte[count * 49];
        for (int i = 0; i < count; i++)
        {
            var image = test.Image(offset + i);
            for (int r = 0; r < 7; r++)
                for (int c = 0; c < 7; c++)
                {
                    int sum = 0;
                    for (int dr = 0; dr < 4; dr++)
                        for (int dc = 0; dc < 4; dc++)
                            sum += image[(r * 4 + dr) * 28 + c * 4 + dc];
                    pixels[i * 49 + r * 7 + c] = (byte)((sum + 8) / 16);
                }
        }
        return new ImageDataset(7, 7, 1, pixels, name: "mnist 7×7");
    }

    static IEnumerable<object[]> GraphsAndLayers()
    {
        int i = 0;
        foreach (var graph in new[] { RegionGraphKind.QuadTree, RegionGraphKind.QuadTree2, RegionGraphKind.QuadGraph, RegionGraphKind.PoonDomingos, RegionGraphKind.RandomBinaryTree })
            foreach (var layer in new[] { LayerKind.Tucker, LayerKind.CP, LayerKind.CPS, LayerKind.CPXS, LayerKind.UncollapsedCP })
            {
                if (graph == RegionGraphKind.QuadTree && layer == LayerKind.Tucker) continue;   // Tucker needs binary partitions
                var reparameterization = (Reparameterization)(i % 3);
                var freeze = (MixingFreeze)(i / 3 % 3);
                i++;
                yield return [graph, layer, reparameterization, freeze];
            }
    }

    [TestMethod]
    [DynamicData(nameof(GraphsAndLayers))]
    public void OnnxRuntimeMatchesTorchSharpOnSmallDigits(RegionGraphKind graph, LayerKind layer, Reparameterization reparameterization, MixingFreeze freeze)
    {
        Assert.IsTrue(Enum.IsDefined(reparameterization) && Enum.IsDefined(freeze));
        var description = new CircuitDescription
        {
            ImageHeight = 7, ImageWidth = 7, RegionGraph = graph, PoonDomingosDelta = 2,
            Replicas = graph == RegionGraphKind.RandomBinaryTree ? 2 : 1, Layer = layer, Units = 4,
            Rank = layer == LayerKind.UncollapsedCP ? 3 : null, Reparameterization = reparameterization, FreezeMixing = freeze,
        };
        using var circuit = new TensorizedCircuit(description, seed: 7);
        var digits = SmallDigits(96);
        Train(circuit, digits);
        var images = SmallDigits(64, offset: 500);

        var expected = TorchSharpLogLikelihoods(circuit, images);
        var (ll, bpd) = Score(circuit, new OnnxExportOptions(), ToFloats(images), [images.Count, 1, 7, 7]);
        AssertClose(expected, ll, description.ToString());
        for (int i = 0; i < ll.Length; i++)
            Assert.AreEqual(Evaluation.BitsPerDimension(expected[i], 49), bpd[i], 1e-4 * Math.Abs(bpd[i]), $"bits per dimension of image {i}");
    }

    [TestMethod]
    public void OnnxRuntimeMatchesTorchSharpForQuadGraphCpK16On28x28Digits()
    {
        var description = new CircuitDescription { RegionGraph = RegionGraphKind.QuadGraph, Layer = LayerKind.CP, Units = 16 };
        using var circuit = new TensorizedCircuit(description, seed: 1);
        var all = MnistTest;
        var images = all.Subset([.. Enumerable.Range(1000, 128)]);
        double before = TorchSharpLogLikelihoods(circuit, images).Average();
        var train = all.Subset([.. Enumerable.Range(0, 256)]);
        Trainer.Train(circuit, new DatasetSplits("mnist", train, all.Subset([.. Enumerable.Range(256, 64)]), all.Subset([.. Enumerable.Range(256, 64)])),
            new TrainerOptions { LearningRate = 0.1, MaxEpochs = 2, BatchSize = 64 });

        var expected = TorchSharpLogLikelihoods(circuit, images);
        var (ll, _) = Score(circuit, new OnnxExportOptions(), ToFloats(images), [images.Count, 1, 28, 28]);
        AssertClose(expected, ll, description.ToString());
        Assert.IsGreaterThan(before + 100, expected.Average(), $"the circuit was trained (mean LL {before:F1} → {expected.Average():F1} nats)");
    }

    [TestMethod]
    public void BytePixelsFlatAndChannelsLastWithTwoChannelsMatch()
    {
        // Two channels: a digit and another digit; interleaved (H, W, C) and flattened, as uint8.
        var a = SmallDigits(32);
        var b = SmallDigits(32, offset: 100);
        var pixels = new byte[32 * 49 * 2];
        for (int i = 0; i < 32; i++)
            for (int d = 0; d < 49; d++)
            {
                pixels[(i * 49 + d) * 2] = a.Image(i)[d];
                pixels[(i * 49 + d) * 2 + 1] = b.Image(i)[d];
            }
        var images = new ImageDataset(7, 7, 2, pixels);
        foreach (var graph in new[] { RegionGraphKind.QuadGraph, RegionGraphKind.RandomBinaryTree })
        {
            var description = new CircuitDescription
            {
                ImageHeight = 7, ImageWidth = 7, Channels = 2, RegionGraph = graph, Replicas = graph == RegionGraphKind.RandomBinaryTree ? 3 : 1,
                Layer = LayerKind.CP, Units = 5, Reparameterization = Reparameterization.Softmax, FreezeMixing = MixingFreeze.None,
            };
            using var circuit = new TensorizedCircuit(description, seed: 3);
            var expected = TorchSharpLogLikelihoods(circuit, images);
            var options = new OnnxExportOptions { PixelType = OnnxPixelType.Byte, Shape = OnnxPixelShape.Flat, ChannelsLast = true };
            var (ll, _) = Score(circuit, options, pixels, [32, 98]);
            AssertClose(expected, ll, description.ToString());

            // The same images planar (C, H, W), as floats in 0..1 with PixelScale 255.
            var planar = new float[pixels.Length];
            for (int i = 0; i < 32; i++)
                for (int d = 0; d < 49; d++)
                    for (int c = 0; c < 2; c++)
                        planar[i * 98 + c * 49 + d] = pixels[(i * 49 + d) * 2 + c] / 255f;
            var (scaled, _) = Score(circuit, new OnnxExportOptions { PixelScale = 255 }, planar, [32, 2, 7, 7]);
            AssertClose(expected, scaled, description + " (planar, 0..1)");
        }
    }

    [TestMethod]
    public void NaNPixelsAreSummedOutWhenMissingPixelsAreAllowed()
    {
        var description = new CircuitDescription
        {
            ImageHeight = 7, ImageWidth = 7, RegionGraph = RegionGraphKind.PoonDomingos, PoonDomingosDelta = 2, Layer = LayerKind.CP, Units = 4,
            FreezeMixing = MixingFreeze.None, Reparameterization = Reparameterization.Softmax,
        };
        using var circuit = new TensorizedCircuit(description, seed: 5);
        Train(circuit, SmallDigits(64));
        var images = SmallDigits(16, offset: 300);
        var pixels = ToFloats(images);
        var missing = new bool[16 * 49];
        var random = new Random(1);
        for (int i = 0; i < 16; i++)
            for (int d = 0; d < 49; d++)
                if (i == 15 || random.NextDouble() < i / 15.0 * 0.8)   // from complete to 80 % missing; the last image entirely
                {
                    missing[i * 49 + d] = true;
                    pixels[i * 49 + d] = float.NaN;
                }
        double[] expected;
        using (var scope = NewDisposeScope())
        using (torch.no_grad())
            expected = circuit.MarginalLogLikelihood(images.Batch(0, 16), torch.tensor(missing, [16, 49])).to(ScalarType.Float64).data<double>().ToArray();

        var (ll, bpd) = Score(circuit, new OnnxExportOptions { MissingPixels = true }, pixels, [16, 1, 7, 7]);
        AssertClose(expected.Take(15).ToList(), ll.Take(15).ToList(), "marginals");
        Assert.AreEqual(0, ll[15], 1e-3, "nothing observed: log p = log Z − log Z");
        for (int i = 0; i < 15; i++)
        {
            int observed = missing.Skip(i * 49).Take(49).Count(m => !m);
            Assert.AreEqual(Evaluation.BitsPerDimension(expected[i], observed), bpd[i], 1e-4 * Math.Abs(bpd[i]), $"bits per observed dimension of image {i}");
        }
        Assert.IsTrue(float.IsNaN(bpd[15]), "no observed value: NaN bits per dimension");
        Assert.ThrowsExactly<ArgumentException>(() => Export(circuit, new OnnxExportOptions { MissingPixels = true, PixelType = OnnxPixelType.Byte }));
    }

    [TestMethod]
    public void TheBatchSizeIsDynamic()
    {
        using var circuit = new TensorizedCircuit(new CircuitDescription { ImageHeight = 7, ImageWidth = 7, Units = 3 });
        var images = SmallDigits(5);
        var expected = TorchSharpLogLikelihoods(circuit, images);
        using var session = new InferenceSession(Export(circuit, new OnnxExportOptions()));
        Assert.AreEqual(-1, session.InputMetadata["pixels"].Dimensions[0]);
        foreach (int n in new[] { 1, 5 })
        {
            var (ll, _) = Run(session, ToFloats(images).AsSpan(0, n * 49).ToArray(), [n, 1, 7, 7]);
            AssertClose(expected.Take(n).ToArray(), ll, $"batch of {n}");
        }
    }

    [TestMethod]
    public void ByteInputWithAScaleIsRejected()
    {
        using var circuit = new TensorizedCircuit(new CircuitDescription { ImageHeight = 4, ImageWidth = 4, Units = 2 });
        var error = Assert.ThrowsExactly<ArgumentException>(() => circuit.ExportToOnnx(new MemoryStream(), new OnnxExportOptions { PixelType = OnnxPixelType.Byte, PixelScale = 255 }));
        StringAssert.Contains(error.Message, "PixelScale");
    }

    [TestMethod]
    public void ExportingToAFileWritesAModelOnnxRuntimeLoads()
    {
        using var circuit = new TensorizedCircuit(new CircuitDescription { ImageHeight = 4, ImageWidth = 4, Units = 2 });
        string path = Path.Combine(Path.GetTempPath(), $"circuit-{Guid.NewGuid():N}.onnx");
        try
        {
            circuit.ExportToOnnx(path);
            using var session = new InferenceSession(path);
            CollectionAssert.AreEquivalent(new[] { "log_likelihood", "bits_per_dimension" }, session.OutputMetadata.Keys.ToArray());
            StringAssert.Contains(session.ModelMetadata.CustomMetadataMap["circuit_description"], "\"ImageHeight\":4");
        }
        finally
        {
            File.Delete(path);
        }
    }

    internal static void Train(TensorizedCircuit circuit, ImageDataset digits)
    {
        var half = digits.Count / 2;
        var train = digits.Subset([.. Enumerable.Range(0, half)]);
        var rest = digits.Subset([.. Enumerable.Range(half, digits.Count - half)]);
        Trainer.Train(circuit, new DatasetSplits("digits", train, rest, rest), new TrainerOptions { LearningRate = 0.05, MaxEpochs = 2, BatchSize = 16 });
    }

    internal static double[] TorchSharpLogLikelihoods(TensorizedCircuit circuit, ImageDataset images)
    {
        using var scope = NewDisposeScope();
        using var _ = torch.no_grad();
        return circuit.LogLikelihood(images.Batch(0, images.Count)).to(ScalarType.Float64).data<double>().ToArray();
    }

    internal static float[] ToFloats(ImageDataset images)
    {
        var result = new float[images.Count * images.ImageSize];
        for (int i = 0; i < images.Count; i++)
        {
            var image = images.Image(i);
            for (int j = 0; j < image.Length; j++) result[i * images.ImageSize + j] = image[j];
        }
        return result;
    }

    internal static byte[] Export(TensorizedCircuit circuit, OnnxExportOptions options)
    {
        using var stream = new MemoryStream();
        circuit.ExportToOnnx(stream, options);
        return stream.ToArray();
    }

    static (float[] LogLikelihood, float[] BitsPerDimension) Score<T>(TensorizedCircuit circuit, OnnxExportOptions options, T[] pixels, int[] shape)
    {
        using var session = new InferenceSession(Export(circuit, options));
        return Run(session, pixels, shape);
    }

    internal static (float[] LogLikelihood, float[] BitsPerDimension) Run<T>(InferenceSession session, T[] pixels, int[] shape)
    {
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("pixels", new DenseTensor<T>(pixels, shape))]);
        return (results.First(r => r.Name == "log_likelihood").AsEnumerable<float>().ToArray(),
            results.First(r => r.Name == "bits_per_dimension").AsEnumerable<float>().ToArray());
    }

    internal static void AssertClose(IReadOnlyList<double> expected, IReadOnlyList<float> actual, string what)
    {
        Assert.HasCount(expected.Count, actual);
        double worst = 0;
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.IsTrue(double.IsFinite(expected[i]), $"{what}: TorchSharp log-likelihood {i} is {expected[i]}");
            worst = Math.Max(worst, Math.Abs(actual[i] - expected[i]) / Math.Abs(expected[i]));
        }
        Console.WriteLine($"{what}: {expected.Count} images, largest relative difference {worst:E2}");
        Assert.IsLessThanOrEqualTo(Tolerance, worst, $"{what}: largest relative difference {worst:E2}");
    }
}
