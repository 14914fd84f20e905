using System.Text.Json.Serialization;

namespace Microsoft.ML.Circuits;

/// <summary>
/// What a model file says about where its weights came from: its own versioned record, independent of the trainer's
/// types. Version 1 (before the engine split) stored the trainer's report under <see cref="Training"/>; its JSON has
/// the same fields as <see cref="TrainingSummary"/>, so those files read unchanged. Version 3 added <see cref="Scoring"/>.
/// </summary>
public sealed record ModelMetadata
{
    /// <summary>The version of this record that the library writes.</summary>
    public const int CurrentVersion = 3;

    /// <summary>The version of this record: <see cref="CurrentVersion"/> when written now, 1 when read from a file that predates the field.</summary>
    [JsonPropertyName("MetadataVersion")]
    public int Version { get; init; } = CurrentVersion;

    /// <summary>The training run that produced the weights (null for untrained or compressed-only models).</summary>
    public TrainingSummary? Training { get; init; }

    /// <summary>How the weights were derived by compression (null unless compressed).</summary>
    public CompressionReport? Compression { get; init; }

    /// <summary>
    /// The model file these weights were loaded from before they were trained further or compressed (fine-tuning,
    /// compression); null when they were trained from scratch or the file predates the field.
    /// </summary>
    public string? Source { get; init; }

    /// <summary>
    /// How the model's scores are computed (<see cref="ScoringMode"/>): <see cref="ScoringMode.Fast"/> for models made
    /// now, <see cref="ScoringMode.Reference"/> when read from a file that predates the field (versions 1 and 2), so
    /// that model scores bit for bit as it did.
    /// </summary>
    public ScoringMode Scoring { get; init; } = ScoringMode.Fast;

    /// <summary>When the file was written (UTC).</summary>
    public DateTimeOffset Created { get; init; } = DateTimeOffset.UtcNow;

    /// <summary>The library version that wrote it.</summary>
    public string LibraryVersion { get; init; } = typeof(ModelMetadata).Assembly.GetName().Version?.ToString() ?? "";
}
