using System.Reflection;
using Microsoft.ML.Data;

namespace Microsoft.ML.Circuits;

/// <summary>
/// The ML.NET members that MLNet/ uses although ML.NET keeps them internal (it compiles against publicized copies of
/// ML.NET; see InternalsAccess.cs). The package declares the ML.NET range it is tested against, but an application can
/// still load another ML.NET: then the first estimator created, transformer saved or model loaded checks these members
/// once and fails with a message that names the supported range, instead of a <see cref="MissingMethodException"/>
/// deep inside <c>Model.Save</c> or <c>Model.Load</c>.
/// </summary>
/// <remarks>
/// The check runs before any method that touches an internal member is compiled: callers call
/// <see cref="EnsureSatisfied"/> and then a separate method that does the work.
/// </remarks>
internal static class MLNetContract
{
    /// <summary>One required type or member, looked up by name in Microsoft.ML.Core, Microsoft.ML.Data and Microsoft.ML.DataView.</summary>
    /// <param name="TypeName">The type's full name (or its simple name when <paramref name="AnyNamespace"/>).</param>
    /// <param name="MemberName">A method, field or property name, <c>.ctor</c> for a constructor, or null for the type alone.</param>
    /// <param name="ParameterNames">When given, some overload must have parameters of all these names.</param>
    /// <param name="FirstParameterAcceptsType">When given, some overload's first parameter must accept an instance of this type.</param>
    /// <param name="AnyNamespace">Match <paramref name="TypeName"/> against simple names (the type exists in several namespaces or assemblies).</param>
    internal sealed record Requirement(string TypeName, string? MemberName = null, string[]? ParameterNames = null,
        Type? FirstParameterAcceptsType = null, bool AnyNamespace = false)
    {
        public override string ToString()
        {
            if (MemberName is null) return TypeName;
            string parameters = ParameterNames is { } names ? string.Join(", ", names) : FirstParameterAcceptsType?.Name ?? "";
            string member = MemberName == ".ctor" ? TypeName[(TypeName.LastIndexOf('.') + 1)..] : MemberName;
            return ParameterNames is null && FirstParameterAcceptsType is null ? $"{TypeName}.{member}" : $"{TypeName}.{member}({parameters})";
        }
    }

    const BindingFlags Everything = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static;

    /// <summary>Every internal ML.NET member that MLNet/ touches.</summary>
    internal static IReadOnlyList<Requirement> Required { get; } =
    [
        new("Microsoft.ML.ModelSaveContext", "CheckAtModel"),
        new("Microsoft.ML.ModelSaveContext", "SetVersionInfo"),
        new("Microsoft.ML.ModelSaveContext", "SaveNonEmptyString"),
        new("Microsoft.ML.ModelSaveContext", "SaveBinaryStream"),
        new("Microsoft.ML.ModelSaveContext", "Writer"),
        new("Microsoft.ML.ModelLoadContext"),
        new("Microsoft.ML.ModelLoadContext", "CheckAtModel"),
        new("Microsoft.ML.ModelLoadContext", "LoadNonEmptyString"),
        new("Microsoft.ML.ModelLoadContext", "TryLoadBinaryStream"),
        new("Microsoft.ML.ModelLoadContext", "Reader"),
        new("Microsoft.ML.ModelLoadContext", "Header"),
        new("Microsoft.ML.ModelHeader", "ModelVerWritten"),
        new("Microsoft.ML.VersionInfo", ".ctor",
            ["modelSignature", "verWrittenCur", "verReadableCur", "verWeCanReadBack", "loaderSignature", "loaderAssemblyName"]),
        new("Microsoft.ML.LoadableClassAttribute", ".ctor", ["instType", "argType", "sigType", "userName", "loadNames"]),
        new("Microsoft.ML.SignatureLoadModel"),
        new("CatalogUtils", "GetEnvironment", FirstParameterAcceptsType: typeof(TransformsCatalog), AnyNamespace: true),
        new("CatalogUtils", "GetEnvironment", FirstParameterAcceptsType: typeof(AnomalyDetectionCatalog.AnomalyDetectionTrainers), AnyNamespace: true),
    ];

    static readonly Lazy<Exception?> Outcome = new(() => Check(Required));

    /// <summary>The ML.NET versions this assembly is tested against, as written in its package's dependency.</summary>
    internal static string SupportedVersions { get; } =
        typeof(MLNetContract).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "SupportedMLNetVersions")?.Value ?? "(unknown: the assembly lacks its SupportedMLNetVersions metadata)";

    /// <summary>Throws (the same exception every time) if the loaded ML.NET lacks a required member.</summary>
    /// <exception cref="NotSupportedException">The loaded ML.NET is not one this assembly can work with.</exception>
    internal static void EnsureSatisfied()
    {
        if (Outcome.Value is { } failure) throw failure;
    }

    /// <summary>The exception to throw when some of <paramref name="requirements"/> are missing, or null when all are present.</summary>
    internal static NotSupportedException? Check(IEnumerable<Requirement> requirements)
    {
        ArgumentNullException.ThrowIfNull(requirements);
        Assembly[] assemblies = [typeof(ITransformer).Assembly, typeof(MLContext).Assembly, typeof(IDataView).Assembly];
        var missing = requirements.Where(r => !IsPresent(r, assemblies)).Select(r => r.ToString()).ToList();
        if (missing.Count == 0) return null;
        string loaded = typeof(MLContext).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? typeof(MLContext).Assembly.GetName().Version?.ToString() ?? "unknown";
        int plus = loaded.IndexOf('+');
        if (plus > 0) loaded = loaded[..plus];
        return new NotSupportedException(
            $"{typeof(MLNetContract).Assembly.GetName().Name} {typeof(MLNetContract).Assembly.GetName().Version} saves and loads models through " +
            $"ML.NET members that ML.NET keeps internal, and the Microsoft.ML {loaded} loaded in this process lacks {missing.Count} of them: " +
            $"{string.Join(", ", missing)}. Supported Microsoft.ML versions: {SupportedVersions}; reference a Microsoft.ML version in that range " +
            "(or a Microsoft.ML.Circuits version that supports yours).");
    }

    static bool IsPresent(Requirement requirement, Assembly[] assemblies)
    {
        var types = assemblies.Distinct().SelectMany(a => requirement.AnyNamespace
            ? SafeTypes(a).Where(t => t.Name == requirement.TypeName)
            : a.GetType(requirement.TypeName, throwOnError: false) is { } t ? [t] : Array.Empty<Type>()).ToList();
        if (requirement.MemberName is null) return types.Count > 0;
        foreach (var type in types)
        {
            var members = requirement.MemberName == ".ctor"
                ? type.GetConstructors(Everything).Cast<MemberInfo>()
                : type.GetMember(requirement.MemberName, Everything);
            foreach (var member in members)
            {
                if (requirement.ParameterNames is null && requirement.FirstParameterAcceptsType is null) return true;
                if (member is not MethodBase method) continue;
                var parameters = method.GetParameters();
                if (requirement.ParameterNames is { } names && !names.All(n => parameters.Any(p => p.Name == n))) continue;
                if (requirement.FirstParameterAcceptsType is { } argument &&
                    (parameters.Length == 0 || !parameters[0].ParameterType.IsAssignableFrom(argument))) continue;
                return true;
            }
        }
        return false;
    }

    static IEnumerable<Type> SafeTypes(Assembly assembly)
    {
        try { return assembly.GetTypes(); }
        catch (ReflectionTypeLoadException e) { return e.Types.OfType<Type>(); }
    }
}
