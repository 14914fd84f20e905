using System.CommandLine;
using System.Globalization;
using Microsoft.ML.Circuits;

namespace Circuits.Cli;

/// <summary>The options that describe a circuit, named as in the original research code's command line.</summary>
internal sealed class CircuitOptions
{
    public Option<string> Dataset { get; } = new("--dataset") { Description = "mnist | fashion_mnist | celeba (sets the image shape)", DefaultValueFactory = _ => "mnist" };
    public Option<string> RegionGraph { get; } = new("--rg") { Description = "Region graph: QG | QT | QT2 | PD | BT", DefaultValueFactory = _ => "QT" };
    public Option<string> Layer { get; } = new("--layer") { Description = "Layer: tucker | cp | cp-s | cp-xs | uncollapsed-cp", DefaultValueFactory = _ => "cp" };
    public Option<int> Units { get; } = new("--k") { Description = "K: units per region", DefaultValueFactory = _ => 128 };
    public Option<int?> InputUnits { get; } = new("--k-in") { Description = "Units of the input layer (default: K)" };
    public Option<int?> Rank { get; } = new("--rank") { Description = "Rank R of uncollapsed-cp layers" };
    public Option<string> InputType { get; } = new("--input-type") { Description = "Input distribution: cat (categorical; the only one implemented)", DefaultValueFactory = _ => "cat" };
    public Option<string> Reparam { get; } = new("--reparam") { Description = "clamp | softmax | exp", DefaultValueFactory = _ => "clamp" };
    public Option<string> FreezeMixing { get; } = new("--freeze-mixing-layers") { Description = "all | not_last | no", DefaultValueFactory = _ => "all" };
    public Option<int> Replicas { get; } = new("--num-replica") { Description = "Repetitions of the random binary tree (BT)", DefaultValueFactory = _ => 8 };
    public Option<int> Delta { get; } = new("--pd-delta") { Description = "Distance between Poon-Domingos cut points", DefaultValueFactory = _ => 4 };
    public Option<string?> ImageSize { get; } = new("--image-size") { Description = "Image size HxW (default: the dataset's)" };
    public Option<int?> Channels { get; } = new("--channels") { Description = "Channels per pixel (default: the dataset's)" };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Dataset, RegionGraph, Layer, Units, InputUnits, Rank, InputType, Reparam, FreezeMixing, Replicas, Delta, ImageSize, Channels })
            command.Add(option);
    }

    /// <summary>The image shape of a dataset name.</summary>
    public static (int Height, int Width, int Channels) DatasetShape(string dataset) => dataset.ToLowerInvariant() switch
    {
        "mnist" or "fashion_mnist" or "fashion-mnist" => (28, 28, 1),
        "celeba" => (64, 64, 3),
        _ => throw new ArgumentException($"Unknown dataset '{dataset}'; expected mnist, fashion_mnist or celeba.", "--dataset"),
    };

    /// <summary>Builds (and validates) the description the options name.</summary>
    public CircuitDescription Describe(ParseResult result)
    {
        var (height, width, channels) = DatasetShape(result.GetValue(Dataset)!);
        if (result.GetValue(ImageSize) is { } size)
            (height, width) = ParseSize(size);
        if (result.GetValue(Channels) is { } c) channels = c;
        string inputType = result.GetValue(InputType)!;
        if (!string.Equals(inputType, "cat", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"--input-type {inputType} is not implemented; only 'cat' (categorical) is.", "--input-type");
        var graph = Names.ParseRegionGraph(result.GetValue(RegionGraph)!);
        return new CircuitDescription
        {
            ImageHeight = height, ImageWidth = width, Channels = channels,
            RegionGraph = graph,
            Layer = Names.ParseLayer(result.GetValue(Layer)!),
            Units = result.GetValue(Units),
            InputUnits = result.GetValue(InputUnits),
            Rank = result.GetValue(Rank),
            Reparameterization = Names.ParseReparameterization(result.GetValue(Reparam)!),
            FreezeMixing = Names.ParseMixingFreeze(result.GetValue(FreezeMixing)!),
            Replicas = graph == RegionGraphKind.RandomBinaryTree ? result.GetValue(Replicas) : 1,
            PoonDomingosDelta = result.GetValue(Delta),
        }.Validate();
    }

    static (int, int) ParseSize(string text)
    {
        var parts = text.ToLowerInvariant().Split('x');
        if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int h)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int w))
            return (h, w);
        throw new ArgumentException($"--image-size must look like HxW (e.g. 28x28), got '{text}'.", "--image-size");
    }
}
