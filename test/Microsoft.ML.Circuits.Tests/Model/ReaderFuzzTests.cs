using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Circuits.Tests.MLNet;

namespace Microsoft.ML.Circuits.Tests.Model;

/// <summary>
/// Seeded random mutations of real files through the readers: IDX files (raw and gzip), circuit payloads (as written,
/// and with the checksum recomputed so that the parsing behind it is reached) and ML.NET model zips. The only
/// acceptable outcomes are a clean load or an <see cref="InvalidDataException"/> with a message — never another
/// exception type, a hang, or an allocation far beyond the file's size. A failure names the seed and the case, which
/// reproduce it.
/// </summary>
[TestClass]
public sealed class ReaderFuzzTests
{
    const int Seed = 20261128;

    /// <summary>One mutation of <paramref name="original"/>: flipped bytes, a truncation, an insertion, a removed range or an "interesting" int32.</summary>
    static byte[] Mutate(byte[] original, Random random)
    {
        var bytes = original.ToList();
        int edits = 1 + random.Next(3);
        for (int e = 0; e < edits && bytes.Count > 0; e++)
        {
            switch (random.Next(6))
            {
                case 0:
                    for (int i = 0, n = 1 + random.Next(8); i < n; i++) bytes[random.Next(bytes.Count)] ^= (byte)(1 << random.Next(8));
                    break;
                case 1:
                    bytes = bytes.Take(random.Next(bytes.Count + 1)).ToList();
                    break;
                case 2:
                    var noise = new byte[1 + random.Next(64)];
                    random.NextBytes(noise);
                    bytes.InsertRange(random.Next(bytes.Count + 1), noise);
                    break;
                case 3:
                    int start = random.Next(bytes.Count);
                    bytes.RemoveRange(start, Math.Min(bytes.Count - start, 1 + random.Next(256)));
                    break;
                default:
                    // Header-sized values: the interesting ones, big- or little-endian, at an early offset or anywhere.
                    int[] interesting = [0, 1, -1, int.MaxValue, int.MinValue, 0x40000000, 0x7fff0000, 65536, 2049, 2051];
                    int value = interesting[random.Next(interesting.Length)];
                    var word = BitConverter.GetBytes(random.Next(2) == 0 ? value : System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(value));
                    int at = random.Next(2) == 0 ? random.Next(Math.Min(bytes.Count, 64)) : random.Next(bytes.Count);
                    for (int i = 0; i < 4 && at + i < bytes.Count; i++) bytes[at + i] = word[i];
                    break;
            }
        }
        return bytes.ToArray();
    }

    /// <summary>Runs <paramref name="read"/> on each mutation and checks the outcome, the time and the allocation.</summary>
    static int Fuzz(string what, byte[] original, int cases, Random random, Action<byte[]> read, long allowedBytes, List<string>? messages = null)
    {
        int loaded = 0;
        for (int c = 0; c < cases; c++)
        {
            byte[] mutated = Mutate(original, random);
            long before = GC.GetAllocatedBytesForCurrentThread();
            var clock = Stopwatch.StartNew();
            try
            {
                read(mutated);
                loaded++;
            }
            catch (InvalidDataException e)
            {
                Assert.IsFalse(string.IsNullOrWhiteSpace(e.Message), $"{what} case {c} (seed {Seed}): an empty message");
                messages?.Add(e.Message);
            }
            catch (Exception e)
            {
                Assert.Fail($"{what} case {c} (seed {Seed}): {e.GetType().Name}: {e.Message}");
            }
            Assert.IsLessThan(10, clock.Elapsed.TotalSeconds, $"{what} case {c} (seed {Seed}) took {clock.Elapsed.TotalSeconds:F1} s");
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.IsLessThan(allowedBytes + 16 * (long)mutated.Length, allocated, $"{what} case {c} (seed {Seed}): {allocated:N0} bytes allocated for a {mutated.Length}-byte file");
        }
        return loaded;
    }

    [TestMethod]
    [Timeout(60_000, CooperativeCancellation = true)]
    public void MutatedIdxFilesLoadOrFailWithInvalidData()
    {
        var random = new Random(Seed);
        string folder = MLNetData.TempFolder();
        var sample = MLNetData.Test;
        var pixels = Enumerable.Range(0, 20).SelectMany(i => sample.Image(i).ToArray()).ToArray();
        foreach (string name in new[] { "images.idx", "images.idx.gz", "labels.idx", "labels.idx.gz" })
        {
            string path = Path.Combine(folder, name);
            bool images = name.StartsWith("images", StringComparison.Ordinal);
            if (images) IdxFile.WriteImages(path, 20, 28, 28, pixels);
            else IdxFile.WriteLabels(path, Enumerable.Range(0, 20).Select(i => (byte)sample.Label(i)).ToArray());
            byte[] original = File.ReadAllBytes(path);
            string target = Path.Combine(folder, "mutated" + (name.EndsWith(".gz", StringComparison.Ordinal) ? ".gz" : ""));
            Fuzz(name, original, 400, random, bytes =>
            {
                File.WriteAllBytes(target, bytes);
                if (images)
                {
                    var (count, rows, columns, data) = IdxFile.ReadImages(target);
                    Assert.AreEqual((long)count * rows * columns, data.Length);
                    _ = new ImageDataset(rows, columns, 1, data);
                }
                else IdxFile.ReadLabels(target);
            }, allowedBytes: 4L << 20);
        }
    }

    static CircuitModel TinyModel() => new(new TensorizedCircuit(new CircuitDescription
    {
        ImageHeight = 2, ImageWidth = 3, RegionGraph = RegionGraphKind.QuadGraph, Layer = LayerKind.CP, Units = 3, Categories = 4,
    }, seed: 5));

    [TestMethod]
    [Timeout(60_000, CooperativeCancellation = true)]
    public void MutatedCircuitPayloadsLoadOrFailWithInvalidData()
    {
        var random = new Random(Seed + 1);
        using var model = TinyModel();
        using var buffer = new MemoryStream();
        model.Save(buffer);
        byte[] original = buffer.ToArray();
        void Load(byte[] bytes)
        {
            using var loaded = CircuitModel.Load(new MemoryStream(bytes), source: "fuzzed payload");
        }
        Fuzz("payload", original, 600, random, Load, allowedBytes: 8L << 20);

        // The same with a valid checksum: the mutation reaches the description, metadata and tensor parsing.
        var reasons = new List<string>();
        Fuzz("payload (checksum recomputed)", original[..^32], 900, random, body =>
        {
            byte[] withHash = [.. body, .. SHA256.HashData(body)];
            Load(withHash);
        }, allowedBytes: 8L << 20, reasons);
        // The mutations reach the parsing behind the checksum: descriptions, metadata, tensor headers and shapes.
        foreach (string part in new[] { "description", "metadata", "tensor" })
            Assert.IsTrue(reasons.Any(r => r.Contains(part, StringComparison.Ordinal)), $"no mutation was rejected by the {part} checks");

        // Through an unseekable stream (as inside a zip) the tensor reads must still stay bounded.
        Fuzz("payload (unseekable)", original[..^32], 300, random, body =>
        {
            byte[] withHash = [.. body, .. SHA256.HashData(body)];
            using var loaded = CircuitModel.Load(new ForwardOnly(withHash), source: "fuzzed payload");
        }, allowedBytes: 8L << 20);
    }

    [TestMethod]
    [Timeout(60_000, CooperativeCancellation = true)]
    public void MutatedModelZipsLoadOrFailWithInvalidData()
    {
        var random = new Random(Seed + 2);
        var context = new MLContext(seed: 1);
        string folder = MLNetData.TempFolder();
        string path = Path.Combine(folder, "model.zip");
        using (var model = TinyModel())
            CircuitModelFile.Save(context, ProbabilisticCircuitTransformer.FromModel(context, model), path);
        byte[] original = File.ReadAllBytes(path);
        string target = Path.Combine(folder, "mutated.zip");
        Fuzz("model zip", original, 300, random, bytes =>
        {
            File.WriteAllBytes(target, bytes);
            using var loaded = CircuitModelFile.Load(context, target);
        }, allowedBytes: 32L << 20);
    }

    /// <summary>A read-only stream without a length, as a zip entry's.</summary>
    sealed class ForwardOnly(byte[] data) : Stream
    {
        readonly MemoryStream inner = new(data);
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
