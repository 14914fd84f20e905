using Mono.Cecil;

namespace Circuits.BuildTools;

/// <summary>
/// Writes a reference copy of an assembly in which internal types and members are public, so that a
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

    // Only what is internal is opened: internal becomes public and private protected becomes protected. Protected and
    // protected internal members stay as they are (so that overrides in derived classes still match), and private
    // members stay private.
    static void MakePublic(TypeDefinition type)
    {
        if (!type.IsNested) type.IsPublic = true;
        else if (type.IsNestedAssembly || type.IsNestedFamilyOrAssembly) type.IsNestedPublic = true;
        else if (type.IsNestedFamilyAndAssembly) type.IsNestedFamily = true;
        foreach (var method in type.Methods)
        {
            if (method.IsAssembly) method.IsPublic = true;
            else if (method.IsFamilyAndAssembly) method.IsFamily = true;
        }
        foreach (var field in type.Fields)
        {
            if (field.IsAssembly) field.IsPublic = true;
            else if (field.IsFamilyAndAssembly) field.IsFamily = true;
        }
    }
}
