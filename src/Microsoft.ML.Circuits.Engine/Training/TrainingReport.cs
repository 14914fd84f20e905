using System.Text.Json;
using System.Text.Json.Serialization;

namespace Microsoft.ML.Circuits.Training;

/// <summary>
/// What a training run did and reached: stored with the model. Log-likelihoods are means over images in nats,
/// normalised (log Z subtracted); bits per dimension = −LL / (ln 2 · D · C). The "best" values are those of the
/// checkpoint with the best validation log-likelihood, which is the one kept.
/// </summary>
public sealed record TrainingReport
{
    /// <summary>Name of the data (e.g. <c>fashion_mnist</c>).</summary>
    public string Dataset { get; init; } = "";

    /// <summary>Images in the training, validation and test sets.</summary>
    public int TrainCount { get; init; }

    /// <summary>Validation images.</summary>
    public int ValidCount { get; init; }

    /// <summary>Test images (0 when no test set was given).</summary>
    public int TestCount { get; init; }

    /// <summary>The options the run used.</summary>
    public TrainerOptions Options { get; init; } = new();

    /// <summary>Epochs run (not counting the initial evaluation).</summary>
    public int Epochs { get; init; }

    /// <summary>The epoch whose weights were kept.</summary>
    public int BestEpoch { get; init; }

    /// <summary>Why training stopped: <c>patience</c>, <c>max-epochs</c> or <c>cancelled</c>.</summary>
    public string StopReason { get; init; } = "";

    /// <summary>Mean train LL of the kept weights (a full pass after training).</summary>
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

    /// <summary>Wall time of the whole run in seconds (final evaluation included).</summary>
    public double Seconds { get; init; }

    /// <summary>The per-epoch history, epoch 0 (before training) first.</summary>
    public IReadOnlyList<EpochRecord> History { get; init; } = [];

    /// <summary>The summary a model file keeps of this run (<see cref="ModelMetadata.Training"/>).</summary>
    public TrainingSummary ToSummary()
    {
        var options = JsonSerializer.SerializeToElement(Options, SummaryJson);
        return new TrainingSummary
        {
            Dataset = Dataset, TrainCount = TrainCount, ValidCount = ValidCount, TestCount = TestCount,
            Options = options.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone()),
            Epochs = Epochs, BestEpoch = BestEpoch, StopReason = StopReason,
            TrainLogLikelihood = TrainLogLikelihood, ValidLogLikelihood = ValidLogLikelihood, TestLogLikelihood = TestLogLikelihood,
            TrainBitsPerDimension = TrainBitsPerDimension, ValidBitsPerDimension = ValidBitsPerDimension, TestBitsPerDimension = TestBitsPerDimension,
            Seconds = Seconds, History = History,
        };
    }

    static readonly JsonSerializerOptions SummaryJson = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };
}
