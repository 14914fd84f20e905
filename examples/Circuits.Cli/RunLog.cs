namespace Circuits.Cli;

/// <summary>
/// The JSON-lines log of one training run, kept with the model it belongs to. A log at a fresh path is written in place
/// (the file was created exclusively, so no other run writes it). A log that would replace an existing one (fine-tuning
/// with <c>--overwrite</c>) is written to a hidden file beside it and copied over the old log only when the run's model
/// replaces the old model (<see cref="ModelSaved"/>): a run that dies before its first save leaves the old model with
/// its own log. A run that fails before writing a line leaves no empty log behind.
/// </summary>
internal sealed class RunLog : IDisposable
{
    readonly string? replaces;
    readonly StreamWriter writer;
    bool written, modelSaved;

    RunLog(string path, FileStream stream, string? replaces)
    {
        Path = path;
        this.replaces = replaces;
        writer = new StreamWriter(stream) { AutoFlush = true };
    }

    /// <summary>Where the lines go now (a hidden file while an old log is being replaced).</summary>
    public string Path { get; }

    /// <summary>Where the log ends up: the path the user sees.</summary>
    public string FinalPath => replaces ?? Path;

    /// <summary>Creates <paramref name="path"/> exclusively; null when it exists already (another run owns it).</summary>
    public static RunLog? TryCreateNew(string path)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        try
        {
            return new RunLog(path, new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read), null);
        }
        catch (IOException) when (File.Exists(path) || Directory.Exists(path))
        {
            return null;
        }
    }

    /// <summary>A log for <paramref name="path"/>: written in place when it is new, else beside it until the model is saved.</summary>
    public static RunLog Open(string path)
    {
        if (TryCreateNew(path) is { } fresh) return fresh;
        if (Directory.Exists(path)) throw new IOException($"{path} is a folder; the training log needs a file there.");
        string full = System.IO.Path.GetFullPath(path);
        string pending = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(full)!, $".{System.IO.Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        return new RunLog(pending, new FileStream(pending, FileMode.CreateNew, FileAccess.Write, FileShare.Read), full);
    }

    public void WriteLine(string line)
    {
        writer.WriteLine(line);
        written = true;
    }

    /// <summary>The run's model was just saved: the log that belongs to it replaces the old one.</summary>
    public void ModelSaved()
    {
        modelSaved = true;
        if (replaces is null) return;
        writer.Flush();
        string copy = Path + ".copy";
        File.Copy(Path, copy, overwrite: true);
        File.Move(copy, replaces, overwrite: true);
    }

    public void Dispose()
    {
        if (replaces is not null && modelSaved)
        {
            // The run replaced the model: the whole run's log (lines after its last checkpoint included) goes with it.
            try { ModelSaved(); } catch (IOException) { /* the log of the last checkpoint is in place already */ }
        }
        writer.Dispose();
        if (replaces is not null)
        {
            // An unsaved run leaves the old log alone.
            File.Delete(Path);
            File.Delete(Path + ".copy");
        }
        else if (!written && !modelSaved)
        {
            File.Delete(Path);
        }
    }
}
