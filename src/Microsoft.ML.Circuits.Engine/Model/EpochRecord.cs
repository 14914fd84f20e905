namespace Microsoft.ML.Circuits;

/// <summary>Metrics of one epoch of a training run (or one block of batches when validation is more frequent), as stored in model metadata.</summary>
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
