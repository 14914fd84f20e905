using Mono.Cecil;

namespace Circuits.BuildTools;

/// <summary>
/// Writes a reference copy of an assembly in which every type, method, field and nested type is public, so that a
/// project can compile against members that are internal in the shipped assembly. Used only for ML.NET 5.0.1's
/// model save/load surface; the real assembly is what runs, and the library declares
/// <c>IgnoresAccessChecksToAttribute</c> for it.
/// </summary>
public static class AssemblyPublicizer
{
    /// <summary>Publicizes <paramref name="input"/> into <paramref name="output"/> (skipped when up to date).</summary>
    public static void Publicize(string input, string output)
    {
        if (File.Exists(output) && File.GetLastWriteTimeUtc(output) >= File.GetLastWriteTimeUtc(input))
            return;
        var resolver = new DefaultAssemblyResolver();
        resolver.AddSearchDirectory(Path.GetDirectoryName(Path.GetFullPath(input))!);
        using var assembly = AssemblyDefinition.ReadAssembly(input, new ReaderParameters { AssemblyResolver = resolver });
        foreach (var module in assembly.Modules)
            foreach (var type in module.GetTypes())
                MakePublic(type);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
        string temporary = output + ".tmp";
        assembly.Write(temporary);
        File.Move(temporary, output, overwrite: true);
    }

    static void MakePublic(TypeDefinition type)
    {
        if (type.IsNested) type.IsNestedPublic = true;
        else type.IsPublic = true;
        foreach (var method in type.Methods)
            method.IsPublic = true;
        foreach (var field in type.Fields)
        {
            // Making a compiler-generated backing field public would clash with the property of the same name
            // for some compilers; such fields are never needed.
            if (field.Name.Contains('<')) continue;
            field.IsPublic = true;
        }
    }
}
