namespace Microsoft.ML.Circuits.Training;

/// <summary>Live progress inside an epoch, reported after every batch.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="Batch">Batches done in this epoch.</param>
/// <param name="Batches">Batches in this epoch.</param>
/// <param name="TrainBitsPerDimension">Running bits per dimension of this epoch's batches.</param>
/// <param name="ImagesPerSecond">Training throughput of this epoch so far.</param>
public sealed record TrainingProgress(int Epoch, int Batch, int Batches, double TrainBitsPerDimension, double ImagesPerSecond);
