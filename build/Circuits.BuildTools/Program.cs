using Circuits.BuildTools;

// Usage:
//   Circuits.BuildTools patch-libtorchsharp <folder>...   patch every libLibTorchSharp.so below the folders
//   Circuits.BuildTools publicize <input.dll> <output.dll> make every type and member of an assembly public
if (args.Length == 0)
{
    Console.Error.WriteLine("usage: Circuits.BuildTools patch-libtorchsharp <folder>... | publicize <input.dll> <output.dll>");
    return 2;
}
try
{
    switch (args[0])
    {
        case "patch-libtorchsharp":
            foreach (string folder in args.Skip(1))
            {
                if (!Directory.Exists(folder)) continue;
                foreach (string file in Directory.EnumerateFiles(folder, "libLibTorchSharp.so", SearchOption.AllDirectories))
                {
                    var result = ElfVersionPatcher.PatchFile(file, "GLIBCXX_3.4.32");
                    if (result.Changed) Console.WriteLine($"patched {file}: {result.Message}");
                }
            }
            return 0;
        case "publicize" when args.Length == 3:
            AssemblyPublicizer.Publicize(args[1], args[2]);
            return 0;
        default:
            Console.Error.WriteLine($"unknown command or wrong arguments: {string.Join(' ', args)}");
            return 2;
    }
}
catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or BadImageFormatException)
{
    Console.Error.WriteLine($"Circuits.BuildTools {args[0]}: {e.Message}");
    return 1;
}
