namespace Circuits.Cli;

/// <summary>
/// Checks the kind of the paths a command is given before any work starts: a folder where a file is expected (or a
/// file where a folder is) is a usage error that names the flag and the kind expected.
/// </summary>
internal static class Paths
{
    /// <summary>An output folder: absent (it is created) or a folder, and no file in the way of creating it.</summary>
    public static void RequireFolder(string path, string flag)
    {
        if (File.Exists(path))
            throw new ArgumentException($"{flag} {path} is a file; expected a folder (it is created when missing).");
        RequireCreatableParent(path, flag);
    }

    /// <summary>An output file: absent (it is created) or a file, and no file in the way of its folder.</summary>
    public static void RequireOutputFile(string path, string flag)
    {
        if (Directory.Exists(path))
            throw new ArgumentException($"{flag} {path} is a folder; expected a file path.");
        RequireCreatableParent(Path.GetDirectoryName(Path.GetFullPath(path))!, flag, path);
    }

    /// <summary>An input file that must exist as a file.</summary>
    public static void RequireInputFile(string path, string flag, string what)
    {
        if (Directory.Exists(path))
            throw new ArgumentException($"{flag} {path} is a folder; expected {what}.");
    }

    /// <summary>An input folder that must be a folder when it exists.</summary>
    public static void RequireInputFolder(string? path, string flag, string what)
    {
        if (path is not null && File.Exists(path))
            throw new ArgumentException($"{flag} {path} is a file; expected {what}.");
    }

    static void RequireCreatableParent(string folder, string flag, string? given = null)
    {
        for (string? current = Path.GetFullPath(folder); !string.IsNullOrEmpty(current); current = Path.GetDirectoryName(current))
        {
            if (Directory.Exists(current)) return;
            if (File.Exists(current))
                throw new ArgumentException($"{flag} {given ?? folder}: {current} is a file, so the folder cannot be created there; expected a folder.");
        }
    }
}
