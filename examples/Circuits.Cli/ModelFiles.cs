using Microsoft.ML.Circuits;

namespace Circuits.Cli;

/// <summary>Where the command line reads and writes models.</summary>
internal static class ModelFiles
{
    public const string Extension = ".circuit";

    /// <summary>Saves <paramref name="circuit"/> (still owned by the caller) atomically.</summary>
    public static void Save(TensorizedCircuit circuit, ModelMetadata metadata, string path, bool overwrite = true) =>
        AtomicFile.Write(path, stream => new CircuitModel(circuit, metadata).Save(stream), overwrite);

    public static CircuitModel Load(string path, TorchSharp.torch.Device device) => CircuitModel.LoadFile(path, device);
}
