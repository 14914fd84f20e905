using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.ML.Circuits.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits;

/// <summary>What a model file says about where its weights came from.</summary>
public sealed record ModelMetadata
{
    /// <summary>The training run that produced the weights (null for untrained or compressed-only models).</summary>
    public TrainingReport? Training { get; init; }

    /// <summary>How the weights were derived by compression (null unless compressed).</summary>
    public CompressionReport? Compression { get; init; }

    /// <summary>When the file was written (UTC).</summary>
    public DateTimeOffset Created { get; init; } = DateTimeOffset.UtcNow;

    /// <summary>The library version that wrote it.</summary>
    public string LibraryVersion { get; init; } = typeof(ModelMetadata).Assembly.GetName().Version?.ToString() ?? "";
}
