using System.Diagnostics;

namespace Microsoft.ML.Circuits.Compression;

/// <summary>Options of <see cref="TuckerCompression"/>.</summary>
public sealed record TuckerCompressionOptions
{
    /// <summary>Options of the per-layer non-negative CP decomposition.</summary>
    public NonNegativeCpOptions Decomposition { get; init; } = new();

    /// <summary>Called after each Tucker layer is decomposed: (layer index in the plan, relative error, HALS sweeps).</summary>
    public Action<int, double, int>? LayerCompressed { get; init; }
}
