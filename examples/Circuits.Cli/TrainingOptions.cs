using System.CommandLine;
using System.Globalization;
using Microsoft.ML.Circuits;
using Microsoft.ML.Circuits.Data;
using Microsoft.ML.Circuits.Training;

namespace Circuits.Cli;

/// <summary>The optimisation, data and runtime options shared by <c>train</c> and <c>finetune</c> (the original's flags).</summary>
internal sealed class TrainingOptions
{
    public DataOptions Data { get; } = new();
    public Option<double?> LearningRate { get; } = new("--lr") { Description = "Adam learning rate (default: 0.1 for PD, 0.01 otherwise, as in the paper)" };
    public Option<int> BatchSize { get; } = new("--batch-size") { Description = "Batch size", DefaultValueFactory = _ => 256 };
    public Option<int> MaxEpochs { get; } = new("--max-num-epochs") { Description = "Maximum epochs", DefaultValueFactory = _ => 200 };
    public Option<int> Patience { get; } = new("--patience") { Description = "Early-stopping patience (epochs without validation improvement)", DefaultValueFactory = _ => 5 };
    public Option<int> Seed { get; } = new("--seed") { Description = "Seed of the initialisation and the batch order", DefaultValueFactory = _ => 42 };
    public Option<double> WeightDecay { get; } = new("--weight-decay") { Description = "Weight decay of the inner layers", DefaultValueFactory = _ => 0.0 };
    public Option<int?> ValidFrequency { get; } = new("--valid-freq", "--valid_freq") { Description = "Validate every N batches instead of every epoch" };
    public Option<int> T0 { get; } = new("--t0") { Description = "T_0 of the cosine warm-restart schedule (1 = constant learning rate)", DefaultValueFactory = _ => 1 };
    public Option<double> EtaMin { get; } = new("--eta-min") { Description = "Minimum learning rate of the schedule", DefaultValueFactory = _ => 1e-4 };
    public DeviceOptions Devices { get; } = new();
    public Option<bool> ProgressBar { get; } = new("--progressbar") { Description = "Show a live progress bar", DefaultValueFactory = _ => false };
    public Option<int?> Limit { get; } = new("--limit") { Description = "Use at most N training images (quick experiments)" };

    public void AddTo(Command command)
    {
        Data.AddTo(command);
        foreach (var option in new Option[] { LearningRate, BatchSize, MaxEpochs, Patience, Seed, WeightDecay, ValidFrequency, T0, EtaMin, ProgressBar, Limit })
            command.Add(option);
        Devices.AddTo(command);
    }

    public TorchSharp.torch.Device ResolveDevice(ParseResult result) => Devices.Resolve(result);

    public DatasetSplits LoadData(ParseResult result, string dataset, CircuitDescription description)
    {
        var data = Data.Load(result, dataset, description);
        if (result.GetValue(Limit) is { } limit)
        {
            if (limit < 1) throw new ArgumentException("--limit must be at least 1.");
            data = data with { Train = data.Train.Subset(Enumerable.Range(0, Math.Min(limit, data.Train.Count)).ToList()) };
        }
        return data;
    }

    /// <summary>The trainer's options, validated (a rejected value is reported by <see cref="Cli.Run"/> with its flag, see <see cref="OptionFlags"/>).</summary>
    public TrainerOptions Trainer(ParseResult result, RegionGraphKind graph, TorchSharp.torch.Device device) => Build(result, graph, device).Validate();

    /// <summary><see cref="TrainerOptions"/> property names → the flags that set them.</summary>
    internal static readonly IReadOnlyDictionary<string, string> OptionFlags = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["LearningRate"] = "--lr", ["BatchSize"] = "--batch-size", ["MaxEpochs"] = "--max-num-epochs", ["Patience"] = "--patience",
        ["ValidationFrequency"] = "--valid-freq", ["T0"] = "--t0", ["EtaMin"] = "--eta-min", ["WeightDecay"] = "--weight-decay",
    };

    TrainerOptions Build(ParseResult result, RegionGraphKind graph, TorchSharp.torch.Device device) => new TrainerOptions
    {
        LearningRate = result.GetValue(LearningRate) ?? DefaultLearningRate(graph),
        BatchSize = result.GetValue(BatchSize),
        MaxEpochs = result.GetValue(MaxEpochs),
        Patience = result.GetValue(Patience),
        Seed = result.GetValue(Seed),
        WeightDecay = result.GetValue(WeightDecay),
        ValidationFrequency = result.GetValue(ValidFrequency),
        T0 = result.GetValue(T0),
        EtaMin = result.GetValue(EtaMin),
        Device = ComputeDevice.NameOf(device),
    };

    /// <summary>The paper's learning rates: 0.1 for Poon–Domingos, 0.01 for quad graphs and trees.</summary>
    public static double DefaultLearningRate(RegionGraphKind graph) => graph == RegionGraphKind.PoonDomingos ? 0.1 : 0.01;

    public static string Format(double value) => value.ToString("G", CultureInfo.InvariantCulture);
}
