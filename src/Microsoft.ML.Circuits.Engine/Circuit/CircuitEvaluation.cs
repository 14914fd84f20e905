using static TorchSharp.torch;

namespace Microsoft.ML.Circuits;

/// <summary>
/// The address book of one evaluation of a circuit: the output of every node of the plan, kept so that queries can
/// read any layer (sampling and MAP walk back down through them). Index 0 holds the input regions (R, B, K_in); index
/// i ≥ 1 holds inner layer i − 1's output (F, B, K_out); the last is the root, (1, B, 1).
/// </summary>
internal sealed class CircuitEvaluation(List<Tensor> outputs)
{
    /// <summary>All outputs, in plan order.</summary>
    public IReadOnlyList<Tensor> Outputs => outputs;

    /// <summary>The root's value for each image: shape (B).</summary>
    public Tensor Root => outputs[^1].view(outputs[^1].shape[1]);
}
