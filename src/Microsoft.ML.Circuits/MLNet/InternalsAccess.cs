// MLNet/ uses ML.NET 5.0.1 members that are internal: the model save/load surface (ModelSaveContext, ModelLoadContext,
// VersionInfo, LoadableClassAttribute, SignatureLoadModel) and catalogs' environments. The project compiles against
// publicized reference copies (see the csproj); at run time CoreCLR honours IgnoresAccessChecksToAttribute, so the
// real ML.NET assemblies are used unchanged. Every use of internals stays in this folder.
[assembly: System.Runtime.CompilerServices.IgnoresAccessChecksTo("Microsoft.ML.Core")]
[assembly: System.Runtime.CompilerServices.IgnoresAccessChecksTo("Microsoft.ML.Data")]
[assembly: System.Runtime.CompilerServices.IgnoresAccessChecksTo("Microsoft.ML.DataView")]

namespace System.Runtime.CompilerServices
{
    /// <summary>Tells the runtime to skip access checks from this assembly into the named one.</summary>
    [AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
    internal sealed class IgnoresAccessChecksToAttribute(string assemblyName) : Attribute
    {
        /// <summary>The assembly whose internals are accessed.</summary>
        public string AssemblyName { get; } = assemblyName;
    }
}
