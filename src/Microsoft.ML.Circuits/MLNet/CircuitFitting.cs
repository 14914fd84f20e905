using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Circuits.Training;
using Microsoft.ML.Runtime;
using TorchSharp;

namespace Microsoft.ML.Circuits;

/// <summary>The training shared by the density estimator and the anomaly trainer.</summary>
internal static class CircuitFitting
{
    /// <summary>Checks the options that do not depend on the data; throws naming the option.</summary>
    public static void Validate(ProbabilisticCircuitOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.InputColumnName, nameof(options.InputColumnName));
        ArgumentException.ThrowIfNullOrWhiteSpace(options.OutputColumnName, nameof(options.OutputColumnName));
        if (options.InitialModel is null)
            Describe(options, options.ImageHeight ?? 28, options.ImageWidth ?? 28, options.Channels ?? 1, validateShape: false);
        TrainerOptions(options).Validate();
        if (options.Kernel is { } kernel)
        {
            if (!Enum.IsDefined(kernel))
                throw new ArgumentOutOfRangeException(nameof(options.Kernel), kernel, "Kernel must be Auto, Managed or Native.");
            if (kernel == LayerKernelPreference.Native && TensorizedCircuit.NativeKernelsUnavailable is { } reason)
                throw new ArgumentException($"Kernel is Native but the native kernels are not available: {reason}.", nameof(options.Kernel));
        }
        if (!Enum.IsDefined(options.Scoring))
            throw new ArgumentOutOfRangeException(nameof(options.Scoring), options.Scoring, "Scoring must be Fast or Reference.");
        if (!(options.ValidationFraction > 0 && options.ValidationFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(options.ValidationFraction), options.ValidationFraction, "ValidationFraction must lie strictly between 0 and 1.");
        if (!(options.PixelScale > 0) || !float.IsFinite(options.PixelScale))
            throw new ArgumentOutOfRangeException(nameof(options.PixelScale), options.PixelScale, "PixelScale must be a positive finite number (1 for 0..255 values, 255 for 0..1 values).");
        if (options.ScoringBatchSize < 1)
            throw new ArgumentOutOfRangeException(nameof(options.ScoringBatchSize), options.ScoringBatchSize, "ScoringBatchSize must be at least 1.");
        if (!Enum.IsDefined(options.ChannelLayout))
            throw new ArgumentOutOfRangeException(nameof(options.ChannelLayout), options.ChannelLayout, "Unknown channel layout.");
    }

    static CircuitDescription Describe(ProbabilisticCircuitOptions o, int height, int width, int channels, bool validateShape = true)
    {
        var description = new CircuitDescription
        {
            ImageHeight = height, ImageWidth = width, Channels = channels,
            RegionGraph = o.RegionGraph, Layer = o.Layer, Units = o.Units, InputUnits = o.InputUnits, Rank = o.Rank,
            PoonDomingosDelta = o.PoonDomingosDelta, Replicas = o.Replicas, TreeSeed = o.Seed,
            Reparameterization = o.Reparameterization, FreezeMixing = o.FreezeMixingLayers,
        }.Validate();
        if (validateShape) Structure.CircuitPlanner.Build(description);
        return description;
    }

    public static TrainerOptions TrainerOptions(ProbabilisticCircuitOptions o) => new()
    {
        LearningRate = o.LearningRate, BatchSize = o.BatchSize, MaxEpochs = o.MaxEpochs, Patience = o.Patience, Seed = o.Seed, Device = o.Device,
        WeightDecay = o.WeightDecay, ValidationFrequency = o.ValidationFrequency, T0 = o.T0, EtaMin = o.EtaMin,
    };

    /// <summary>Reads every row's pixels (checked and quantised) into an <see cref="ImageDataset"/>.</summary>
    public static ImageDataset ReadAll(IDataView data, PixelColumn pixels, string name)
    {
        using var cursor = data.GetRowCursor([data.Schema[pixels.Name]]);
        var read = pixels.CreateReader(cursor);
        using var buffer = new MemoryStream();
        var image = new byte[pixels.Size];
        long row = 0;
        while (cursor.MoveNext())
        {
            read(row++, image, default);
            buffer.Write(image);
        }
        if (row == 0) throw new ArgumentException($"The data has no rows to fit on (column '{pixels.Name}').", nameof(data));
        return new ImageDataset(pixels.Height, pixels.Width, pixels.Channels, buffer.ToArray(), null, name);
    }

    /// <summary>Trains a circuit on the pixel column of <paramref name="data"/> as the options say.</summary>
    public static (CircuitModel Model, PixelColumn Pixels, ImageDataset Images) Fit(IHost host, IDataView data, ProbabilisticCircuitOptions options)
    {
        ArgumentNullException.ThrowIfNull(data);
        var initial = options.InitialModel;
        var pixels = initial is null
            ? PixelColumn.Resolve(data.Schema, options.InputColumnName, options.ImageHeight, options.ImageWidth, options.Channels, options.ChannelLayout, options.PixelScale)
            : PixelColumn.Resolve(data.Schema, options.InputColumnName, initial.Description.ImageHeight, initial.Description.ImageWidth,
                initial.Description.Channels, options.ChannelLayout, options.PixelScale, initial.Description.Categories);
        var description = initial?.Description ?? Describe(options, pixels.Height, pixels.Width, pixels.Channels);
        var device = ComputeDevice.Parse(options.Device);
        var images = ReadAll(data, pixels, "fit");
        var (train, valid) = DatasetSplits.SplitValidation(images, options.ValidationFraction, options.Seed);
        var splits = new DatasetSplits("IDataView", train, valid, new ImageDataset(pixels.Height, pixels.Width, pixels.Channels, []));

        var circuit = new TensorizedCircuit(description, options.Seed, device);
        try
        {
            if (options.Kernel is { } kernel) circuit.KernelPreference = kernel;
            if (initial is not null)
            {
                CopyWeights(initial.Circuit, circuit);
                circuit.ProjectParameters();
            }
            using var channel = host.Start("Training");
            channel.Info($"Fitting {description} ({circuit.ParameterCount.Total:N0} parameters) on {train.Count} rows, validating on {valid.Count}.");
            // MLContext.CancelExecution() marks the host cancelled; the trainer polls it through a token before every step.
            using var cancellation = new CancellationTokenSource();
            bool Cancelled() => host is ICancelable { IsCanceled: true };
            var trainerOptions = TrainerOptions(options) with
            {
                Device = ComputeDevice.NameOf(device),
                Progress = _ => { if (Cancelled()) cancellation.Cancel(); },
                EpochCompleted = record =>
                {
                    channel.Info(record.Epoch == 0
                        ? $"before training: valid bpd {record.ValidBitsPerDimension:F4}"
                        : $"epoch {record.Epoch}: train bpd {record.TrainBitsPerDimension:F4}, valid bpd {record.ValidBitsPerDimension:F4}, {record.Seconds:F1} s");
                    options.EpochCompleted?.Invoke(record);
                },
            };
            if (Cancelled()) cancellation.Cancel();
            var report = Trainer.Train(circuit, splits, trainerOptions, cancellation.Token);
            if (report.StopReason == "cancelled")
                channel.Warning($"Fitting was cancelled (MLContext.CancelExecution) after {report.Epochs} complete epochs; " +
                    $"the circuit holds the best checkpoint, epoch {report.BestEpoch} (valid bpd {report.ValidBitsPerDimension:F4}).");
            var metadata = new ModelMetadata { Training = report with { Dataset = "IDataView" }, Compression = initial?.CompressionReport, Scoring = options.Scoring };
            return (new CircuitModel(circuit, metadata), pixels, images);
        }
        catch
        {
            circuit.Dispose();
            throw;
        }
    }

    static void CopyWeights(TensorizedCircuit from, TensorizedCircuit to)
    {
        using var _ = torch.no_grad();
        var source = from.state_dict();
        foreach (var (name, target) in to.state_dict())
            target.copy_(source[name]);
    }
}
