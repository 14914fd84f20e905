namespace Microsoft.ML.Circuits.Training;

/// <summary>Metrics of one epoch (or one block of <see cref="TrainerOptions.ValidationFrequency"/> batches).</summary>
/// <param name="Epoch">1-based epoch number (0 is the evaluation before training).</param>
/// <param name="TrainLogLikelihood">Mean log-likelihood of the epoch's training batches (natural log); NaN for epoch 0.</param>
/// <param name="ValidLogLikelihood">Mean log-likelihood of the validation set after the epoch.</param>
/// <param name="TrainBitsPerDimension">Bits per dimension of <paramref name="TrainLogLikelihood"/>.</param>
/// <param name="ValidBitsPerDimension">Bits per dimension of <paramref name="ValidLogLikelihood"/>.</param>
/// <param name="Seconds">Wall time of the epoch, validation included.</param>
/// <param name="LearningRate">Learning rate at the end of the epoch.</param>
/// <param name="Improved">True when the validation log-likelihood improved on the best so far.</param>
public sealed record EpochRecord(int Epoch, double TrainLogLikelihood, double ValidLogLikelihood, double TrainBitsPerDimension,
    double ValidBitsPerDimension, double Seconds, double LearningRate, bool Improved);

/// <summary>Live progress inside an epoch, reported after every batch.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="Batch">Batches done in this epoch.</param>
/// <param name="Batches">Batches in this epoch.</param>
/// <param name="TrainBitsPerDimension">Running bits per dimension of this epoch's batches.</param>
/// <param name="ImagesPerSecond">Training throughput of this epoch so far.</param>
public sealed record TrainingProgress(int Epoch, int Batch, int Batches, double TrainBitsPerDimension, double ImagesPerSecond);

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
}
