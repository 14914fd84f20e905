using System.Globalization;
using System.Text.Json;
using Microsoft.ML.Circuits;
using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Circuits.Training;
using Spectre.Console;

namespace Circuits.Cli;

/// <summary>Runs <see cref="Trainer"/> with console progress, a JSON-lines log and checkpointing of the best model.</summary>
internal static class TrainingRun
{
    /// <summary>
    /// Trains with a log line per epoch in <paramref name="log"/>; <paramref name="saveBest"/> saves each improvement to
    /// <paramref name="modelPath"/>. A divergence (a NaN or infinity in the loss, a gradient, a weight or the validation
    /// log-likelihood) ends the command with a message that says which file holds the last good checkpoint, or that none
    /// was written.
    /// </summary>
    public static TrainingSummary Run(TensorizedCircuit circuit, DatasetSplits data, TrainerOptions options, bool progressBar,
        RunLog log, string modelPath, Action<TensorizedCircuit, EpochRecord> saveBest)
    {
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine($"data:       {data.Name}: {data.Train.Count} train, {data.Valid.Count} valid, {data.Test.Count} test images");
        Console.WriteLine($"optimiser:  Adam lr {options.LearningRate.ToString(c)}, batch {options.BatchSize}, max {options.MaxEpochs} epochs, patience {options.Patience}, device {options.Device}");
        Console.WriteLine($"log:        {log.FinalPath}");

        void Epoch(EpochRecord e)
        {
            // JSON has no NaN or infinity: a value that is not finite is written as null (the trainer treats it as a divergence).
            log.WriteLine(JsonSerializer.Serialize(new
            {
                epoch = e.Epoch, train_ll = Finite(e.TrainLogLikelihood), valid_ll = Finite(e.ValidLogLikelihood), train_bpd = Finite(e.TrainBitsPerDimension),
                valid_bpd = Finite(e.ValidBitsPerDimension), seconds = e.Seconds, lr = e.LearningRate, improved = e.Improved,
            }));
            string train = double.IsNaN(e.TrainBitsPerDimension) ? "    -   " : e.TrainBitsPerDimension.ToString("F4", c);
            string line = string.Format(c, "epoch {0,4}  train bpd {1}  valid bpd {2:F4}  {3,7:F1} s{4}", e.Epoch, train, e.ValidBitsPerDimension, e.Seconds, e.Improved ? "  *" : "");
            if (progressBar) AnsiConsole.WriteLine(line); else Console.WriteLine(line);
        }

        int savedEpoch = -1;
        void Improved(TensorizedCircuit now, EpochRecord record)
        {
            saveBest(now, record);
            savedEpoch = record.Epoch;
            log.ModelSaved();
        }

        var withCallbacks = options with { EpochCompleted = Epoch, Improved = Improved };
        try
        {
            if (!progressBar)
                return Trainer.Train(circuit, data, withCallbacks, Cli.Interrupt);

            TrainingSummary? report = null;
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(context =>
                {
                    var task = context.AddTask("training", maxValue: 1);
                    report = Trainer.Train(circuit, data, withCallbacks with
                    {
                        Progress = p =>
                        {
                            task.Description = string.Format(c, "epoch {0} batch {1}/{2} train bpd {3:F3} {4:N0} img/s", p.Epoch, p.Batch, p.Batches, p.TrainBitsPerDimension, p.ImagesPerSecond);
                            task.MaxValue = p.Batches;
                            task.Value = p.Batch;
                        },
                    }, Cli.Interrupt);
                });
            return report!;
        }
        catch (TrainingDivergedException e)
        {
            string kept = savedEpoch >= 0
                ? $"{modelPath} holds the last good checkpoint (epoch {savedEpoch})."
                : File.Exists(modelPath)
                    ? $"No checkpoint of this run was written: {modelPath} is the file that was there before, untouched."
                    : $"No model file was written: no epoch improved on the initial weights before the divergence.";
            throw new TrainingDivergedException($"{e.Message} {kept} The log is {log.FinalPath}.", e.Epoch, e.Batch, e.Tensor, e.LastGoodEpoch);
        }
    }

    static double? Finite(double value) => double.IsFinite(value) ? value : null;

    /// <summary>Prints the result; after Ctrl+C, ends the command with exit code 130 and says which checkpoint was saved where.</summary>
    public static void Finish(TrainingSummary report, string modelPath)
    {
        PrintResult(report);
        if (report.StopReason != "cancelled") return;
        var c = CultureInfo.InvariantCulture;
        throw new OperationCanceledException(report.BestEpoch == 0
            ? $"interrupted after {report.Epochs} complete epochs, before any improvement: {modelPath} holds the initial weights (valid bpd {report.ValidBitsPerDimension.ToString("F4", c)})"
            : $"interrupted after {report.Epochs} complete epochs: {modelPath} holds the best checkpoint, epoch {report.BestEpoch} (valid bpd {report.ValidBitsPerDimension.ToString("F4", c)})");
    }

    static void PrintResult(TrainingSummary report)
    {
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Format(c, "stopped:    {0} after {1} epochs; best epoch {2}; {3:F0} s", report.StopReason, report.Epochs, report.BestEpoch, report.Seconds));
        Console.WriteLine(string.Format(c, "best train bpd {0}  valid bpd {1:F4}  test bpd {2}",
            double.IsNaN(report.TrainBitsPerDimension) ? "n/a" : report.TrainBitsPerDimension.ToString("F4", c), report.ValidBitsPerDimension,
            double.IsNaN(report.TestBitsPerDimension) ? "n/a" : report.TestBitsPerDimension.ToString("F4", c)));
    }
}
