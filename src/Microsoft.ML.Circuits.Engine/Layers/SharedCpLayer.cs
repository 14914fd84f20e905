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
    /// <summary>Creates the layer with weights U(0.01, 0.99).</summary>
    public SharedCpLayer(FoldedLayerPlan plan, Reparameterization reparameterization, Generator generator, Device device)
        : this(nameof(SharedCpLayer), plan, reparameterization, generator, device) { }

    /// <summary>For derived layers.</summary>
    protected SharedCpLayer(string name, FoldedLayerPlan plan, Reparameterization reparameterization, Generator generator, Device device)
        : base(name, plan, reparameterization, device)
    {
        Weight = AddParameter("weight", Parameterization.InitialUniform([Arity, InputUnits, OutputUnits], reparameterization, generator), device);
    }

    /// <summary>θ of shape (H, K_in, K_out).</summary>
    public Parameter Weight { get; }

    /// <summary>The non-negative shared weights W.</summary>
    public Tensor Weights() => Parameterization.Weights(Weight, Reparameterization, 1);

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        CheckInput(x);
        using var scope = NewDisposeScope();
        long batch = x.shape[2];
        // (F, H, B, K) -> (H, F·B, K): one matrix product per slot, shared by every fold.
        var slots = x.permute(1, 0, 2, 3).reshape(Arity, Folds * batch, InputUnits);
        var y = LogSpace.LogMatMul(slots, Weights()).view(Arity, Folds, batch, OutputUnits);
        return SumSlots(y, slotDim: 0).MoveToOuterDisposeScope();
    }
}
