using Microsoft.ML;
using Microsoft.ML.Circuits;

namespace Circuits.Cli;

/// <summary>
/// The command line's model files: standard ML.NET model zips (see <see cref="CircuitModelFile"/>), so a model trained
/// here loads in any ML.NET program with <c>mlContext.Model.Load</c> and a zip saved by such a program loads here.
/// </summary>
internal static class ModelFiles
{
    public const string Extension = CircuitModelFile.Extension;

    /// <summary>Saves <paramref name="circuit"/> (still owned by the caller) atomically as a model zip.</summary>
    public static void Save(TensorizedCircuit circuit, ModelMetadata metadata, string path, bool overwrite = true)
    {
        var context = new MLContext();
        var transformer = ProbabilisticCircuitTransformer.FromModel(context, new CircuitModel(circuit, metadata));
        CircuitModelFile.Save(context, transformer, path, overwrite);
    }

    /// <summary>Loads a model zip (or a raw circuit payload) onto <paramref name="device"/>.</summary>
    public static CircuitModel Load(string path, TorchSharp.torch.Device device)
    {
        var model = CircuitModelFile.Load(new MLContext(), path).Model;
        if (device.type == TorchSharp.DeviceType.CPU) return model;
        using (model) return model.CopyTo(device);
    }
}
