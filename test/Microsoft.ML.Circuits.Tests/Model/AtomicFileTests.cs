using Microsoft.ML.Circuits.Tests.MLNet;

namespace Microsoft.ML.Circuits.Tests.Model;

/// <summary>
/// Fault injection for saving: each step of an atomic save (creating the temporary file, writing it — as a full
/// disk would fail it, after some bytes —, flushing it, renaming it) fails in turn; the previous file must be intact and
/// no temporary file may remain. Also the clean-up of the temporary files a killed save leaves behind.
/// </summary>
[TestClass]
public sealed class AtomicFileTests
{
    public enum Step { Create, Write, Flush, Rename }

    /// <summary>The real disk, except that <paramref name="failing"/> throws (a write after <paramref name="bytesBeforeFailure"/> bytes).</summary>
    sealed class FailingFileSystem(Step failing, long bytesBeforeFailure = 0) : AtomicFile.IFileSystem
    {
        public int Deletes { get; private set; }

        public Stream CreateExclusive(string path) => failing switch
        {
            Step.Create => throw new IOException("injected: cannot create the temporary file"),
            Step.Write => new FullDisk(AtomicFile.Disk.Instance.CreateExclusive(path), bytesBeforeFailure),
            _ => AtomicFile.Disk.Instance.CreateExclusive(path),
        };

        public void Flush(Stream stream)
        {
            if (failing == Step.Flush) throw new IOException("injected: flush failed");
            AtomicFile.Disk.Instance.Flush(stream);
        }

        public void Move(string source, string destination, bool overwrite)
        {
            if (failing == Step.Rename) throw new IOException("injected: rename failed");
            AtomicFile.Disk.Instance.Move(source, destination, overwrite);
        }

        public void Delete(string path)
        {
            Deletes++;
            AtomicFile.Disk.Instance.Delete(path);
        }
    }

    /// <summary>A stream that accepts <paramref name="capacity"/> bytes and then fails as a full disk does.</summary>
    sealed class FullDisk(Stream inner, long capacity) : Stream
    {
        long written;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => written;
        public override long Position { get => written; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            long room = capacity - written;
            if (buffer.Length > room)
            {
                inner.Write(buffer[..(int)Math.Max(room, 0)]);
                written = capacity;
                throw new IOException("injected: No space left on device");
            }
            inner.Write(buffer);
            written += buffer.Length;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }

    static CircuitModel SmallModel(int seed) => new(new TensorizedCircuit(new CircuitDescription { ImageHeight = 2, ImageWidth = 2, RegionGraph = RegionGraphKind.QuadTree, Layer = LayerKind.CP, Units = 4 }, seed: seed));

    static IEnumerable<object[]> Faults() =>
        from step in new[] { Step.Create, Step.Write, Step.Flush, Step.Rename }
        from bytes in step == Step.Write ? new long[] { 0, 7, 1000, 10_000 } : new long[] { 0 }
        from zip in new[] { false, true }
        select new object[] { step, bytes, zip };

    [TestMethod]
    [DynamicData(nameof(Faults))]
    public void ASaveThatFailsAtAnyStepLeavesThePreviousFileIntactAndNoTemporaryFile(Step step, long bytes, bool zip)
    {
        string folder = MLNetData.TempFolder();
        string path = Path.Combine(folder, zip ? "model.zip" : "model.circuit");
        using var old = SmallModel(1);
        using var replacement = SmallModel(2);
        var context = new MLContext();
        Action<Stream> Writer(CircuitModel model) => zip
            ? stream => context.Model.Save(ProbabilisticCircuitTransformer.FromModel(context, new CircuitModel(model.Circuit, model.Metadata)),
                CircuitModelFile.InputSchema(model.Description), stream)
            : model.Save;
        AtomicFile.Write(path, Writer(old), overwrite: true);
        byte[] before = File.ReadAllBytes(path);

        var failing = new FailingFileSystem(step, bytes);
        var e = Assert.Throws<IOException>(() => AtomicFile.Write(path, Writer(replacement), overwrite: true, failing));
        StringAssert.StartsWith(e.Message, "injected");

        CollectionAssert.AreEqual(before, File.ReadAllBytes(path), $"the previous file changed after a failed {step}");
        CollectionAssert.AreEqual(new[] { Path.GetFileName(path) }, Directory.GetFiles(folder).Select(Path.GetFileName).ToArray(),
            $"a failed {step} left files behind");
        // The previous file still loads as the old model.
        using var loaded = zip ? CircuitModelFile.Load(context, path).Model : CircuitModel.LoadFile(path);
        using var x = TorchSharp.torch.randint(0, 256, [3, 4, 1], TorchSharp.torch.ScalarType.Int64);
        using var expected = old.Circuit.LogLikelihood(x);
        using var actual = loaded.Circuit.LogLikelihood(x);
        Assert.IsTrue(expected.allclose(actual), "the previous file no longer holds the previous model");

        // The same save without the fault replaces the file.
        AtomicFile.Write(path, Writer(replacement), overwrite: true);
        CollectionAssert.AreNotEqual(before, File.ReadAllBytes(path));
        Assert.HasCount(1, Directory.GetFiles(folder));
    }

    [TestMethod]
    public void ASaveRemovesTheTemporaryFilesAKilledSaveLeftButNotOnesBeingWritten()
    {
        string folder = MLNetData.TempFolder();
        string path = Path.Combine(folder, "model.circuit");
        // What SIGKILL during a save leaves: a hidden temporary file of the target.
        string stale = AtomicFile.TemporaryPath(Path.GetFullPath(path));
        File.WriteAllBytes(stale, new byte[100]);
        // A save of the same target in progress elsewhere (held exclusively), and another target's temporary file.
        string busy = AtomicFile.TemporaryPath(Path.GetFullPath(path));
        using var writer = new FileStream(busy, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        string other = AtomicFile.TemporaryPath(Path.Combine(Path.GetFullPath(folder), "other.circuit"));
        File.WriteAllBytes(other, new byte[10]);
        string unrelated = Path.Combine(folder, ".model.circuit.notes.tmp");
        File.WriteAllText(unrelated, "someone else's");

        using var model = SmallModel(1);
        model.SaveFile(path);

        Assert.IsFalse(File.Exists(stale), "the killed save's temporary file was left");
        Assert.IsTrue(File.Exists(busy), "a temporary file being written was removed");
        Assert.IsTrue(File.Exists(other), "another target's temporary file was removed");
        Assert.IsTrue(File.Exists(unrelated), "a file that is not one of our temporary files was removed");
        using var loaded = CircuitModel.LoadFile(path);
        Assert.AreEqual(model.Description, loaded.Description);
    }
}
