using Microsoft.ML.Circuits.Structure;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Layers;

/// <summary>
/// Tucker: y[f,o] = Σ_{i,j} l[f,i]·r[f,j]·W[f,i,j,o], with W ∈ (F, K_in, K_in, K_out); arity must be 2.
/// Parameters: F·K_in²·K_out.
/// </summary>
public sealed class TuckerLayer : InnerLayer
{
    /// <summary>Creates the layer with weights U(0.01, 0.99).</summary>
    /// <exception cref="ArgumentException">The layer's arity is not 2.</exception>
    public TuckerLayer(FoldedLayerPlan plan, Reparameterization reparameterization, Generator generator, Device device)
        : base(nameof(TuckerLayer), plan, reparameterization, device)
    {
        if (plan.Arity != 2 || plan.IsPadded)
            throw new ArgumentException($"The Tucker layer needs binary partitions (arity 2), but folded layer {plan.Index} has arity {plan.Arity}.", nameof(plan));
        Weight = AddParameter("weight", Parameterization.InitialUniform([Folds, InputUnits, InputUnits, OutputUnits], reparameterization, generator), device);
    }

    /// <summary>θ of shape (F, K_in, K_in, K_out).</summary>
    public Parameter Weight { get; }

    /// <summary>The non-negative core tensors W (normalised jointly over both inputs for softmax).</summary>
    public Tensor Weights() => Parameterization.Weights(Weight, Reparameterization, 1, normalizedDims: 2);

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        CheckInput(x);
        using var scope = NewDisposeScope();
        long batch = x.shape[2];
        var left = x.select(1, 0);
        var right = x.select(1, 1);
        var leftMax = LogSpace.SafeMax(left, -1);
        var rightMax = LogSpace.SafeMax(right, -1);
        var outer = (left - leftMax).exp_().unsqueeze(3) * (right - rightMax).exp_().unsqueeze(2);
        var linear = torch.bmm(outer.view(Folds, batch, InputUnits * InputUnits), Weights().view(Folds, InputUnits * InputUnits, OutputUnits));
        return linear.log_().add_(leftMax).add_(rightMax).MoveToOuterDisposeScope();
    }
}
