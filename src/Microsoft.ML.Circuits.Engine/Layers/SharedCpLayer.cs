using Microsoft.ML.Circuits.Semirings;
using Microsoft.ML.Circuits.Structure;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Layers;

/// <summary>
/// CP-XS: collapsed CP whose matrices W ∈ (H, K_in, K_out) are shared by all folds of the layer.
/// Parameters: H·K_in·K_out. (CP-S adds a per-fold scale; see <see cref="ScaledSharedCpLayer"/>.)
/// </summary>
public class SharedCpLayer : InnerLayer
{
    internal SharedCpLayer(LayerSpec spec, Reparameterization reparameterization, Generator generator, Device device)
        : this(nameof(SharedCpLayer), spec, reparameterization, generator, device) { }

    private protected SharedCpLayer(string name, LayerSpec spec, Reparameterization reparameterization, Generator generator, Device device)
        : base(name, spec, reparameterization, device)
    {
        Weight = AddParameter("weight", InitialUniform("weight", generator), device);
    }

    /// <summary>θ of shape (H, K_in, K_out).</summary>
    public Parameter Weight { get; }

    /// <summary>The non-negative shared weights W.</summary>
    public Tensor Weights() => Parameterization.Weights(Weight, Spec.Parameter("weight"), Reparameterization);

    /// <inheritdoc />
    public override Tensor Contract(Tensor x, Semiring semiring) => Contract(x, semiring, null);

    /// <summary>The contraction, each output unit multiplied by e^<paramref name="logUnitFactor"/> (F, 1, K_out) when given.</summary>
    private protected Tensor Contract(Tensor x, Semiring semiring, Tensor? logUnitFactor)
    {
        CheckInput(x, semiring);
        using var scope = NewDisposeScope();
        long batch = x.shape[2];
        // (F, H, B, K) -> (H, F·B, K): one matrix product per slot, shared by every fold.
        var slots = x.permute(1, 0, 2, 3).reshape(Arity, Folds * batch, x.shape[3]);
        var y = semiring.MatMulProduct(slots, Weights(), [Arity, Folds, batch, OutputUnits], 0, PaddedSlots(slotDim: 0), logUnitFactor);
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>The choice of CP-XS; CP-S's per-fold scale multiplies every term of a unit alike, so it never changes the choice.</summary>
    internal override Tensor ChooseInputs(Tensor x, Tensor unit, Semiring semiring, Queries.UnitChooser chooser)
    {
        using var scope = NewDisposeScope();
        var logWeight = Weights().log().unsqueeze(0).expand(Folds, Arity, InputUnits, OutputUnits);
        return ChooseEachSlot(x, logWeight, unit, chooser).MoveToOuterDisposeScope();
    }
}
