using System.Text.Json;
using System.Text.Json.Serialization;
using System.Diagnostics;
using Microsoft.ML.Circuits.Data;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Training;

/// <summary>
/// The training loop of the paper: Adam on the loss −Σ_batch (log c(x) − log Z), the clamp projection after every
/// step, validation after every epoch, early stopping on the validation log-likelihood with patience, and the best
/// checkpoint kept (the circuit ends with the best weights). A NaN or infinity in a gradient or weight stops
/// training with a <see cref="TrainingDivergedException"/> after restoring the last good checkpoint.
/// </summary>
public static class Trainer
{
    /// <summary>Trains <paramref name="circuit"/> in place on <paramref name="data"/> and reports what it reached.</summary>
    /// <param name="circuit">The circuit, trained in place; it holds the best weights afterwards.</param>
    /// <param name="data">Training, validation and (optionally empty) test images, of the circuit's shape.</param>
    /// <param name="options">Optimisation options; validated.</param>
    /// <param name="cancellation">Stops training before the next step (the partial epoch is not validated, the final passes are
    /// skipped); the best weights so far are kept and the summary says <c>cancelled</c>.</param>
    public static TrainingSummary Train(TensorizedCircuit circuit, DatasetSplits data, TrainerOptions options, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(circuit);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var description = circuit.Description;
        foreach (var split in new[] { data.Train, data.Valid, data.Test })
            if (split.Count > 0) Evaluation.CheckData(description, split);
        if (data.Valid.Count == 0)
            throw new ArgumentException("Training needs a non-empty validation set for early stopping.", nameof(data));
        if (data.Train.Count < options.BatchSize)
            throw new ArgumentException($"{nameof(options.BatchSize)} = {options.BatchSize} is larger than the {data.Train.Count} training images; every batch would be dropped.", nameof(options));

        var clock = Stopwatch.StartNew();
        int dimensions = description.Dimensions;
        var history = new List<EpochRecord>();
        double Bpd(double ll) => Evaluation.BitsPerDimension(ll, dimensions);

        var best = Snapshot(circuit);
        try
        {
            double bestValid = Evaluation.MeanLogLikelihood(circuit, data.Valid, options.EvaluationBatchSize);
            int bestEpoch = 0;
            var initial = new EpochRecord(0, double.NaN, bestValid, double.NaN, Bpd(bestValid), clock.Elapsed.TotalSeconds, options.LearningRate, false);
            history.Add(initial);
            options.EpochCompleted?.Invoke(initial);

            using var step = new TrainingStep(circuit, options);
            int batchesPerEpoch = options.ValidationFrequency ?? data.Train.Count / options.BatchSize;
            var order = new BatchOrder(data.Train.Count, options.BatchSize, options.Seed);
            int patience = options.Patience, epoch = 0;
            long steps = 0;
            string stopReason = "max-epochs";
            double learningRate = options.LearningRate;

            while (epoch < options.MaxEpochs)
            {
                epoch++;
                var epochClock = Stopwatch.StartNew();
                double trainSum = 0;
                long trainImages = 0;
                bool cancelled = false;
                for (int batch = 1; batch <= batchesPerEpoch; batch++)
                {
                    if (cancellation.IsCancellationRequested) { cancelled = true; break; }
                    using var scope = NewDisposeScope();
                    var x = data.Train.Batch(order.Next(), circuit.Device);
                    learningRate = CosineWarmRestarts(options, steps);
                    var (loss, nonFinite) = step.Run(x, learningRate);
                    if (nonFinite is not null)
                        throw Diverged($"{nonFinite} is not finite (NaN or infinity)", epoch, batch, nonFinite, circuit, best, history);
                    steps++;
                    trainSum -= loss;
                    trainImages += x.shape[0];
                    options.Progress?.Invoke(new TrainingProgress(epoch, batch, batchesPerEpoch, Bpd(trainSum / trainImages),
                        trainImages / Math.Max(epochClock.Elapsed.TotalSeconds, 1e-9)));
                }
                if (cancelled)
                {
                    // Stop now: the partial epoch is not validated and the best checkpoint so far is what is kept.
                    epoch--;
                    stopReason = "cancelled";
                    break;
                }

                double valid = Evaluation.MeanLogLikelihood(circuit, data.Valid, options.EvaluationBatchSize);
                if (!double.IsFinite(valid))
                    throw Diverged($"the validation log-likelihood is {valid}", epoch, batchesPerEpoch, "the validation log-likelihood", circuit, best, history);
                bool improved = valid > bestValid;
                var record = new EpochRecord(epoch, trainSum / trainImages, valid, Bpd(trainSum / trainImages), Bpd(valid),
                    epochClock.Elapsed.TotalSeconds, learningRate, improved);
                history.Add(record);
                if (improved)
                {
                    bestValid = valid;
                    bestEpoch = epoch;
                    Dispose(best);
                    best = Snapshot(circuit);
                    patience = options.Patience;
                    options.Improved?.Invoke(circuit, record);
                }
                else
                {
                    patience--;
                }
                options.EpochCompleted?.Invoke(record);
                if (cancellation.IsCancellationRequested) { stopReason = "cancelled"; break; }
                if (patience <= 0) { stopReason = "patience"; break; }
            }

            Restore(circuit, best);
            // A cancelled run returns at once: the full train and test passes are skipped (NaN).
            bool stopNow = stopReason == "cancelled";
            double train = stopNow ? double.NaN : Evaluation.MeanLogLikelihood(circuit, data.Train, options.EvaluationBatchSize);
            double test = !stopNow && data.Test.Count > 0 ? Evaluation.MeanLogLikelihood(circuit, data.Test, options.EvaluationBatchSize) : double.NaN;
            return new TrainingSummary
            {
                Dataset = data.Name, TrainCount = data.Train.Count, ValidCount = data.Valid.Count, TestCount = data.Test.Count,
                Options = Settings(options), Epochs = epoch, BestEpoch = bestEpoch, StopReason = stopReason,
                TrainLogLikelihood = train, ValidLogLikelihood = bestValid, TestLogLikelihood = test,
                TrainBitsPerDimension = Bpd(train), ValidBitsPerDimension = Bpd(bestValid), TestBitsPerDimension = Bpd(test),
                Seconds = clock.Elapsed.TotalSeconds, History = history,
            };
        }
        finally
        {
            Dispose(best);
        }
    }

    /// <summary>The options as the JSON values a model file stores (callbacks left out).</summary>
    static Dictionary<string, JsonElement> Settings(TrainerOptions options) =>
        JsonSerializer.SerializeToElement(options, SettingsJson).EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone());

    static readonly JsonSerializerOptions SettingsJson = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>
    /// The learning rate of PyTorch's CosineAnnealingWarmRestarts(T_0, T_mult = 1, eta_min) after
    /// <paramref name="step"/> scheduler steps (one per batch): eta_min + (lr − eta_min)·(1 + cos(π·(step mod T_0)/T_0))/2.
    /// </summary>
    public static double CosineWarmRestarts(TrainerOptions options, long step)
    {
        long current = step % options.T0;
        return options.EtaMin + (options.LearningRate - options.EtaMin) * (1 + Math.Cos(Math.PI * current / options.T0)) / 2;
    }

    static TrainingDivergedException Diverged(string what, int epoch, int batch, string quantity, TensorizedCircuit circuit,
        Dictionary<string, Tensor> best, List<EpochRecord> history)
    {
        Restore(circuit, best);
        int lastGood = history.LastOrDefault(h => h.Improved)?.Epoch ?? 0;
        return new TrainingDivergedException(
            $"Training diverged at epoch {epoch}, batch {batch}: {what}. " +
            $"The circuit was reset to the last good checkpoint (epoch {lastGood}{(lastGood == 0 ? ", the initial weights" : "")}); " +
            "a smaller learning rate or the clamp reparameterisation usually helps.",
            epoch, batch, quantity, lastGood);
    }

    /// <summary>A copy of every tensor of the circuit's state.</summary>
    internal static Dictionary<string, Tensor> Snapshot(TensorizedCircuit circuit)
    {
        using var _ = torch.no_grad();
        return circuit.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
    }

    internal static void Restore(TensorizedCircuit circuit, Dictionary<string, Tensor> snapshot)
    {
        using var _ = torch.no_grad();
        foreach (var (name, tensor) in circuit.state_dict())
            tensor.copy_(snapshot[name]);
        circuit.MarkParametersChanged();
    }

    static void Dispose(Dictionary<string, Tensor> snapshot)
    {
        foreach (var t in snapshot.Values) t.Dispose();
        snapshot.Clear();
    }

    /// <summary>An endless sequence of shuffled batches: each pass is a fresh seeded permutation, incomplete tails dropped.</summary>
    sealed class BatchOrder(int count, int batchSize, int seed)
    {
        readonly Random random = new(seed);
        int[] permutation = [];
        int position;

        public int[] Next()
        {
            if (position + batchSize > permutation.Length)
            {
                permutation = Enumerable.Range(0, count).ToArray();
                random.Shuffle(permutation);
                position = 0;
            }
            var batch = permutation[position..(position + batchSize)];
            position += batchSize;
            return batch;
        }
    }
}
