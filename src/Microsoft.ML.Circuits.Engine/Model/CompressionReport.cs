namespace Microsoft.ML.Circuits;

/// <summary>The record of a Tucker → CP compression.</summary>
/// <param name="SourceDescription">The Tucker circuit's description (JSON).</param>
/// <param name="Rank">The CP rank R.</param>
/// <param name="RelativeErrors">Relative reconstruction error ‖W − Ŵ‖ / ‖W‖ of each compressed layer, in layer order.</param>
/// <param name="Seconds">Wall time of the decomposition.</param>
public sealed record CompressionReport(string SourceDescription, int Rank, IReadOnlyList<double> RelativeErrors, double Seconds)
{
    /// <summary>Test bits per dimension of the Tucker model, when its training report had one.</summary>
    public double? SourceTestBitsPerDimension { get; init; }

    /// <summary>Test bits per dimension right after compression, when it was measured.</summary>
    public double? TestBitsPerDimension { get; init; }
}
