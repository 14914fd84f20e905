namespace Microsoft.ML.Circuits;

/// <summary>
/// Writes files atomically through a temporary file and a rename. The temporary file is
/// <c>.&lt;name&gt;.&lt;guid&gt;.tmp</c> beside the target, held exclusively while it is written; a save removes the
/// temporary files of the same target that a killed process left behind (those no other writer holds), and a failed
/// save removes its own, so the previous file stays intact and nothing else remains.
/// </summary>
internal static class AtomicFile
{
    /// <summary>The file operations of a save, one per step, so that tests can make each step fail.</summary>
    internal interface IFileSystem
    {
        /// <summary>Creates <paramref name="path"/> exclusively (it must not exist) and holds it until the stream is disposed.</summary>
        Stream CreateExclusive(string path);

        /// <summary>Flushes <paramref name="stream"/> to the disk.</summary>
        void Flush(Stream stream);

        /// <summary>Renames <paramref name="source"/> to <paramref name="destination"/>.</summary>
        void Move(string source, string destination, bool overwrite);

        /// <summary>Deletes <paramref name="path"/> if it exists.</summary>
        void Delete(string path);
    }

    /// <summary>The real file system.</summary>
    internal sealed class Disk : IFileSystem
    {
        public static readonly Disk Instance = new();

        public Stream CreateExclusive(string path) => new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);

        public void Flush(Stream stream)
        {
            if (stream is FileStream file) file.Flush(flushToDisk: true);
            else stream.Flush();
        }

        public void Move(string source, string destination, bool overwrite) => File.Move(source, destination, overwrite);

        public void Delete(string path)
        {
            if (File.Exists(path)) File.Delete(path);
        }
    }

    /// <summary>Runs <paramref name="write"/> on a temporary file next to <paramref name="path"/>, flushes it to disk, then moves it over <paramref name="path"/>.</summary>
    public static void Write(string path, Action<Stream> write, bool overwrite = true) => Write(path, write, overwrite, Disk.Instance);

    /// <summary><see cref="Write(string, Action{Stream}, bool)"/> through <paramref name="files"/>.</summary>
    internal static void Write(string path, Action<Stream> write, bool overwrite, IFileSystem files)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(full)!;
        if (Directory.Exists(full))
            throw new IOException($"{path} is a folder; a model file cannot be written there.");
        Directory.CreateDirectory(folder);
        if (!overwrite && File.Exists(full))
            throw new IOException($"{path} already exists; it was left untouched (choose another path or allow overwriting).");
        RemoveStaleTemporaries(full);
        string temporary = TemporaryPath(full);
        try
        {
            using (var stream = files.CreateExclusive(temporary))
            {
                write(stream);
                files.Flush(stream);
            }
            files.Move(temporary, full, overwrite);
        }
        finally
        {
            files.Delete(temporary);
        }
    }

    /// <summary>A fresh temporary path for <paramref name="fullPath"/>.</summary>
    internal static string TemporaryPath(string fullPath) =>
        Path.Combine(Path.GetDirectoryName(fullPath)!, $".{Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");

    /// <summary>
    /// Deletes the temporary files of <paramref name="fullPath"/> that no writer holds: those of a save that was killed.
    /// A temporary file being written (by this or another process) is held exclusively and is left alone.
    /// </summary>
    internal static void RemoveStaleTemporaries(string fullPath)
    {
        string folder = Path.GetDirectoryName(fullPath)!;
        string prefix = $".{Path.GetFileName(fullPath)}.";
        IEnumerable<string> candidates;
        try { candidates = Directory.EnumerateFiles(folder, prefix + "*.tmp").ToList(); }
        catch (IOException) { return; }
        foreach (string candidate in candidates)
        {
            string guid = Path.GetFileName(candidate)[prefix.Length..^".tmp".Length];
            if (guid.Length != 32 || !guid.All(Uri.IsHexDigit)) continue; // not one of ours
            try
            {
                using (new FileStream(candidate, FileMode.Open, FileAccess.ReadWrite, FileShare.None)) { }
                File.Delete(candidate);
            }
            catch (IOException)
            {
                // Held by a writer, or gone meanwhile.
            }
            catch (UnauthorizedAccessException)
            {
                // Not ours to remove.
            }
        }
    }
}
