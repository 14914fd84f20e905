using Circuits.BuildTools;

// Usage:
//   Circuits.BuildTools publicize <input.dll> <output.dll>   make every internal type and member of an assembly public
// (The libLibTorchSharp.so patch is build/Circuits.LibTorchSharpPatch, which also ships in the engine package.)
if (args.Length == 0)
{
    Console.Error.WriteLine("usage: Circuits.BuildTools publicize <input.dll> <output.dll>");
    return 2;
}
try
{
    switch (args[0])
    {
        case "publicize" when args.Length == 3:
            AssemblyPublicizer.Publicize(args[1], args[2]);
            return 0;
        default:
            Console.Error.WriteLine($"unknown command or wrong arguments: {string.Join(' ', args)}; expected: publicize <input.dll> <output.dll>");
            return 2;
    }
}
catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or BadImageFormatException)
{
    Console.Error.WriteLine($"Circuits.BuildTools {args[0]}: {e.Message}");
    return 1;
}
