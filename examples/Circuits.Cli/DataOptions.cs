using System.CommandLine;
using Microsoft.ML.Circuits;
using Microsoft.ML.Circuits.Data;

namespace Circuits.Cli;

/// <summary>Where a command reads its dataset: <c>--data-dir</c>, and <c>--crop-size</c> for image folders.</summary>
internal sealed class DataOptions
{
    public Option<string?> DataDir { get; } = new("--data-dir") { Description = "Data folder (mnist: the bundled sample; fashion_mnist: /usr/share/datasets/fashion-mnist; celeba: required)" };
    public Option<int> CropSize { get; } = new("--crop-size") { Description = "Image folders (celeba): centre crop before resizing; 0 = no crop", DefaultValueFactory = _ => 140 };

    public void AddTo(Command command)
    {
        command.Add(DataDir);
        command.Add(CropSize);
    }

    /// <summary>Loads <paramref name="dataset"/> with images shaped as <paramref name="description"/> expects.</summary>
    public DatasetSplits Load(ParseResult result, string dataset, CircuitDescription description)
    {
        int crop = result.GetValue(CropSize);
        if (crop < 0) throw new ArgumentException($"--crop-size must be 0 (no crop) or positive, got {crop}.");
        if (description.ImageHeight != description.ImageWidth && Datasets.Normalize(dataset) == "celeba")
            throw new ArgumentException("Image folders are resized to squares: use --image-size NxN.", "--image-size");
        var imageOptions = new ImageFolderOptions { Size = description.ImageHeight, Channels = description.Channels, CropSize = crop == 0 ? null : crop };
        return Datasets.Load(dataset, result.GetValue(DataDir), imageOptions: imageOptions);
    }
}
