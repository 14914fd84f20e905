using Microsoft.ML.Circuits.Semirings;
using Microsoft.ML.Circuits.Structure;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Layers;

/// <summary>
/// Collapsed CP: y[f,o] = Π_h Σ_i W[f,h,i,o]·x[f,h,i], with W ∈ (F, H, K_in, K_out). Padded slots are left out of
/// the product. Parameters: F·H·K_in·K_out.
/// </summary>
public sealed class CpLayer : InnerLayer
{
    internal CpLayer(LayerSpec spec, Reparameterization reparameterization, Generator generator, Device device)
        : base(nameof(CpLayer), spec, reparameterization, device)
    {
        Weight = AddParameter("weight", InitialUniform("weight", generator), device);
    }

    /// <summary>θ of shape (F, H, K_in, K_out).</summary>
    public Parameter Weight { get; }

    /// <summary>The non-negative weights W.</summary>
    public Tensor Weights() => Parameterization.Weights(Weight, Spec.Parameter("weight"), Reparameterization);

    /// <inheritdoc />
    public override Tensor Contract(Tensor x, Semiring semiring)
    {
        CheckInput(x, semiring);
        using var scope = NewDisposeScope();
        long batch = x.shape[2];
        var y = semiring.MatMulProduct(x.reshape(Folds * Arity, batch, x.shape[3]), Weights().view(Folds * Arity, InputUnits, OutputUnits),
            [Folds, Arity, batch, OutputUnits], 1, PaddedSlots(), null);
        return y.MoveToOuterDisposeScope();
    }

    internal override Tensor ChooseInputs(Tensor x, Tensor unit, Semiring semiring, Queries.UnitChooser chooser)
    {
        using var scope = NewDisposeScope();
        return ChooseEachSlot(x, Weights().log(), unit, chooser).MoveToOuterDisposeScope();
    }
}
