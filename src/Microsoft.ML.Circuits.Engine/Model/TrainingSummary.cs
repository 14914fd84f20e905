using System.Text.Json;

namespace Microsoft.ML.Circuits;

/// <summary>
/// The record of a training run, as <c>Training.Trainer.Train</c> returns it and a model file keeps it
/// (<see cref="ModelMetadata.Training"/>): data sizes, epochs, why it stopped, the log-likelihoods and
/// bits per dimension of the kept weights, the settings used, and the per-epoch history. Log-likelihoods are means in
/// nats, normalised; bits per dimension = −LL / (ln 2 · D · C).
/// </summary>
public sealed record TrainingSummary
{
    /// <summary>Name of the data (e.g. <c>fashion_mnist</c>).</summary>
    public string Dataset { get; init; } = "";

    /// <summary>Training images.</summary>
    public int TrainCount { get; init; }

    /// <summary>Validation images.</summary>
    public int ValidCount { get; init; }

    /// <summary>Test images (0 when no test set was given).</summary>
    public int TestCount { get; init; }

    /// <summary>The settings of the run (learning rate, batch size, …) as JSON values, by name.</summary>
    public IReadOnlyDictionary<string, JsonElement> Options { get; init; } = new Dictionary<string, JsonElement>();

    /// <summary>Epochs run (not counting the initial evaluation).</summary>
    public int Epochs { get; init; }

    /// <summary>The epoch whose weights were kept.</summary>
    public int BestEpoch { get; init; }

    /// <summary>Why training stopped: <c>patience</c>, <c>max-epochs</c> or <c>cancelled</c>.</summary>
    public string StopReason { get; init; } = "";

    /// <summary>Mean train LL of the kept weights.</summary>
    public double TrainLogLikelihood { get; init; }

    /// <summary>Mean validation LL of the kept weights.</summary>
    public double ValidLogLikelihood { get; init; }

    /// <summary>Mean test LL of the kept weights (NaN without a test set).</summary>
    public double TestLogLikelihood { get; init; } = double.NaN;

    /// <summary>Train bits per dimension of the kept weights.</summary>
    public double TrainBitsPerDimension { get; init; }

    /// <summary>Validation bits per dimension of the kept weights.</summary>
    public double ValidBitsPerDimension { get; init; }

    /// <summary>Test bits per dimension of the kept weights (NaN without a test set).</summary>
    public double TestBitsPerDimension { get; init; } = double.NaN;

    /// <summary>Wall time of the run in seconds.</summary>
    public double Seconds { get; init; }

    /// <summary>The per-epoch history, epoch 0 (before training) first.</summary>
    public IReadOnlyList<EpochRecord> History { get; init; } = [];
}
