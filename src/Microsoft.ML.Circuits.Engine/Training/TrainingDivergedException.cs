namespace Microsoft.ML.Circuits.Training;

/// <summary>
/// Training produced a NaN or infinity in a gradient or a weight. The circuit has been reset to the last good
/// checkpoint (the best validation log-likelihood so far, or the initial weights).
/// </summary>
public sealed class TrainingDivergedException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public TrainingDivergedException(string message, int epoch, int batch, string tensor, int lastGoodEpoch) : base(message)
    {
        Epoch = epoch; Batch = batch; Tensor = tensor; LastGoodEpoch = lastGoodEpoch;
    }

    /// <summary>The epoch in which the problem appeared.</summary>
    public int Epoch { get; }

    /// <summary>The batch (1-based) in which the problem appeared.</summary>
    public int Batch { get; }

    /// <summary>The parameter whose gradient or value was not finite.</summary>
    public string Tensor { get; }

    /// <summary>The epoch of the weights the circuit was reset to (0 = initial weights).</summary>
    public int LastGoodEpoch { get; }
}
