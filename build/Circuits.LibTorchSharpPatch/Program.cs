using Circuits.LibTorchSharpPatch;

// Usage: Circuits.LibTorchSharpPatch <folder>...
// Patches every libLibTorchSharp.so below the folders (an output or publish folder; never the NuGet cache): marks
// GLIBCXX_3.4.32 weak and unversions the one symbol that carries it. Idempotent; folders that do not exist are skipped.
const string MissingVersion = "GLIBCXX_3.4.32";
if (args.Length == 0)
{
    Console.Error.WriteLine("usage: Circuits.LibTorchSharpPatch <folder>...  (patches every libLibTorchSharp.so below the folders)");
    return 2;
}
string? file = null;
try
{
    foreach (string folder in args)
    {
        if (!Directory.Exists(folder)) continue;
        foreach (string found in Directory.EnumerateFiles(folder, "libLibTorchSharp.so", SearchOption.AllDirectories))
        {
            file = found;
            var result = ElfVersionPatcher.PatchFile(found, MissingVersion);
            if (result.Changed) Console.WriteLine($"patched {found}: {result.Message}");
        }
    }
    return 0;
}
catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"Circuits.LibTorchSharpPatch: could not patch {file ?? string.Join(", ", args)}: {e.Message}");
    return 1;
}
