namespace Microsoft.ML.Circuits.Compression;

/// <summary>Options of the non-negative CP decomposition.</summary>
public sealed record NonNegativeCpOptions
{
    /// <summary>Maximum HALS sweeps (one sweep updates every column of the three factors once). Default 3000.</summary>
    public int MaxIterations { get; init; } = 3000;

    /// <summary>Stop when the relative error of all folds together improved by no more than this fraction of itself in a sweep. Default 1e−6.</summary>
    public double Tolerance { get; init; } = 1e-6;

    /// <summary>Seed of the random initialisation. Default 0.</summary>
    public int Seed { get; init; }
}
