namespace Microsoft.ML.Circuits;

/// <summary>
/// The names the original research code's command line uses for region graphs, layers and options
/// (<c>QG</c>, <c>QT</c>, <c>PD</c>; <c>tucker</c>, <c>cp</c>, <c>cp-s</c>, <c>cp-xs</c>), parsed case-insensitively.
/// </summary>
internal static class Names
{
    static readonly (string Name, RegionGraphKind Kind)[] RegionGraphs =
    [
        ("QT", RegionGraphKind.QuadTree), ("QT4", RegionGraphKind.QuadTree), ("QT2", RegionGraphKind.QuadTree2),
        ("QG", RegionGraphKind.QuadGraph), ("PD", RegionGraphKind.PoonDomingos), ("BT", RegionGraphKind.RandomBinaryTree),
    ];

    static readonly (string Name, LayerKind Kind)[] Layers =
    [
        ("tucker", LayerKind.Tucker), ("cp", LayerKind.CP), ("cp-s", LayerKind.CPS), ("cp-xs", LayerKind.CPXS),
        ("uncollapsed-cp", LayerKind.UncollapsedCP),
    ];

    static readonly (string Name, Reparameterization Kind)[] Reparameterizations =
        [("clamp", Reparameterization.Clamp), ("softmax", Reparameterization.Softmax), ("exp", Reparameterization.Exp)];

    static readonly (string Name, MixingFreeze Kind)[] Freezes =
        [("all", MixingFreeze.All), ("not_last", MixingFreeze.AllButLast), ("no", MixingFreeze.None)];

    /// <summary>Parses <c>QG|QT|QT2|PD|BT</c> (also the enum names).</summary>
    public static RegionGraphKind ParseRegionGraph(string name) => Parse(name, RegionGraphs, "region graph");

    /// <summary>Parses <c>tucker|cp|cp-s|cp-xs|uncollapsed-cp</c> (also the enum names).</summary>
    public static LayerKind ParseLayer(string name) => Parse(name, Layers, "layer");

    /// <summary>Parses <c>clamp|softmax|exp</c>.</summary>
    public static Reparameterization ParseReparameterization(string name) => Parse(name, Reparameterizations, "reparameterization");

    /// <summary>Parses <c>all|not_last|no</c>.</summary>
    public static MixingFreeze ParseMixingFreeze(string name) => Parse(name, Freezes, "mixing freeze");

    /// <summary>The CLI name of a region graph.</summary>
    public static string Of(RegionGraphKind kind) => RegionGraphs.First(p => p.Kind == kind).Name;

    /// <summary>The CLI name of a layer.</summary>
    public static string Of(LayerKind kind) => Layers.First(p => p.Kind == kind).Name;

    /// <summary>The CLI name of a reparameterization.</summary>
    public static string Of(Reparameterization kind) => Reparameterizations.First(p => p.Kind == kind).Name;

    /// <summary>The CLI name of a mixing freeze.</summary>
    public static string Of(MixingFreeze kind) => Freezes.First(p => p.Kind == kind).Name;

    static T Parse<T>(string name, (string Name, T Kind)[] table, string what) where T : struct, Enum
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (var (n, kind) in table)
            if (string.Equals(n, name, StringComparison.OrdinalIgnoreCase)) return kind;
        bool numeric = name.Length > 0 && (char.IsDigit(name[0]) || name[0] is '-' or '+');
        if (!numeric && Enum.TryParse<T>(name, ignoreCase: true, out var parsed) && Enum.IsDefined(parsed)) return parsed;
        throw new ArgumentException($"Unknown {what} '{name}'; expected one of: {string.Join(", ", table.Select(p => p.Name).Distinct())}.", nameof(name));
    }
}
