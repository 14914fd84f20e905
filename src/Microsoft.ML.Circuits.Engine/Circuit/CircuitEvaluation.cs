using Microsoft.ML.Circuits.Semirings;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits;

/// <summary>
/// The address book of one evaluation of a circuit: the output of every node of the plan, kept so that queries can
/// read any layer (sampling and MAP walk back down through them). Index 0 holds the input regions (R, B, K_in); index
/// i ≥ 1 holds inner layer i − 1's output (F, B, K_out); the last is the root, (1, B, 1). The outputs are in the
/// representation of <see cref="Semiring"/> (log-values for the log semirings).
/// </summary>
internal sealed class CircuitEvaluation(List<Tensor> outputs, Semiring semiring)
{
    /// <summary>All outputs, in plan order.</summary>
    public IReadOnlyList<Tensor> Outputs => outputs;

    /// <summary>The semiring the outputs were computed over.</summary>
    public Semiring Semiring => semiring;

    /// <summary>The root's log-value for each image: shape (B).</summary>
    public Tensor Root
    {
        get
        {
            var root = semiring.ToLogValues(outputs[^1]);
            return root.view(root.shape[1]);
        }
    }
}
