using System.Text.Json.Serialization;

namespace Microsoft.ML.Circuits.Training;

/// <summary>
/// Options of <see cref="Trainer"/>. The defaults are the paper's settings for quad graphs and quad trees: Adam with
/// learning rate 0.01 (use 0.1 for Poon–Domingos), batch 256, at most 200 epochs, early stopping with patience 5 on
/// the validation log-likelihood.
/// </summary>
public sealed record TrainerOptions
{
    /// <summary>Adam's learning rate (PyTorch's defaults otherwise: β = (0.9, 0.999), ε = 1e−8).</summary>
    public double LearningRate { get; init; } = 0.01;

    /// <summary>Training batch size; the last incomplete batch of an epoch is dropped.</summary>
    public int BatchSize { get; init; } = 256;

    /// <summary>Maximum number of epochs.</summary>
    public int MaxEpochs { get; init; } = 200;

    /// <summary>Epochs without improvement of the validation log-likelihood before stopping.</summary>
    public int Patience { get; init; } = 5;

    /// <summary>Seed of the batch order.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>L2 weight decay of the inner layers (Adam's; the input layer has none).</summary>
    public double WeightDecay { get; init; }

    /// <summary>When set, an "epoch" is this many random batches instead of a full pass (the original's <c>--valid_freq</c>).</summary>
    public int? ValidationFrequency { get; init; }

    /// <summary>T_0 of the cosine warm-restart schedule, stepped every batch; 1 (the default) keeps the learning rate constant.</summary>
    public int T0 { get; init; } = 1;

    /// <summary>Minimum learning rate of the cosine schedule.</summary>
    public double EtaMin { get; init; } = 1e-4;

    /// <summary>Batch size of evaluation passes.</summary>
    public int EvaluationBatchSize { get; init; } = 512;

    /// <summary>The device the circuit is on, recorded in reports (<c>cpu</c>, <c>cuda:0</c>).</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>Called after every training batch.</summary>
    [JsonIgnore] public Action<TrainingProgress>? Progress { get; init; }

    /// <summary>Called after every epoch with its metrics.</summary>
    [JsonIgnore] public Action<EpochRecord>? EpochCompleted { get; init; }

    /// <summary>Called when the validation log-likelihood improves, with the circuit holding the new best weights (e.g. to save a checkpoint).</summary>
    [JsonIgnore] public Action<TensorizedCircuit, EpochRecord>? Improved { get; init; }

    /// <summary>Checks every option; throws an <see cref="ArgumentException"/> naming the wrong one and its allowed range.</summary>
    public TrainerOptions Validate()
    {
        Check(LearningRate > 0 && double.IsFinite(LearningRate), nameof(LearningRate), LearningRate, "a positive finite number");
        Check(BatchSize >= 1, nameof(BatchSize), BatchSize, "1 or more");
        Check(MaxEpochs >= 1, nameof(MaxEpochs), MaxEpochs, "1 or more");
        Check(Patience >= 1, nameof(Patience), Patience, "1 or more");
        Check(WeightDecay >= 0 && double.IsFinite(WeightDecay), nameof(WeightDecay), WeightDecay, "0 or more");
        Check(ValidationFrequency is null or >= 1, nameof(ValidationFrequency), ValidationFrequency, "1 or more, or unset");
        Check(T0 >= 1, nameof(T0), T0, "1 or more");
        Check(double.IsFinite(EtaMin) && EtaMin >= 0 && (T0 == 1 || EtaMin <= LearningRate), nameof(EtaMin), EtaMin,
            $"0..{LearningRate} (the learning rate) when T0 > 1");
        Check(EvaluationBatchSize >= 1, nameof(EvaluationBatchSize), EvaluationBatchSize, "1 or more");
        return this;
    }

    static void Check(bool ok, string name, object? value, string allowed)
    {
        if (!ok) throw new ArgumentOutOfRangeException(name, value, $"{name} = {value} is not allowed; allowed: {allowed}.");
    }
}
