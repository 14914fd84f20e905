using Microsoft.ML.Circuits.Semirings;
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
    internal TuckerLayer(LayerSpec spec, Reparameterization reparameterization, Generator generator, Device device)
        : base(nameof(TuckerLayer), spec, reparameterization, device)
    {
        if (spec.Arity != 2 || spec.IsPadded)
            throw new ArgumentException($"The Tucker layer needs binary partitions (arity 2), but folded layer {spec.Index} has arity {spec.Arity}.", nameof(spec));
        Weight = AddParameter("weight", InitialUniform("weight", generator), device);
    }

    /// <summary>θ of shape (F, K_in, K_in, K_out).</summary>
    public Parameter Weight { get; }

    /// <summary>The non-negative core tensors W (normalised jointly over both inputs for softmax).</summary>
    public Tensor Weights() => Parameterization.Weights(Weight, Spec.Parameter("weight"), Reparameterization);

    /// <inheritdoc />
    public override Tensor Contract(Tensor x, Semiring semiring)
    {
        CheckInput(x, semiring);
        using var scope = NewDisposeScope();
        var weights = Weights().view(Folds, InputUnits * InputUnits, OutputUnits);
        return semiring.OuterMatMul(x.select(1, 0), x.select(1, 1), weights).MoveToOuterDisposeScope();
    }

    /// <summary>The pair (i, j) is chosen jointly, ∝ W[f,i,j,o]·exp(x_left[i] + x_right[j]).</summary>
    internal override Tensor ChooseInputs(Tensor x, Tensor unit, Semiring semiring, Queries.UnitChooser chooser)
    {
        using var scope = NewDisposeScope();
        long batch = x.shape[2], pairs = (long)InputUnits * InputUnits;
        var logWeight = Weights().log().view(Folds, pairs, OutputUnits);
        var weights = logWeight.gather(2, unit.view(Folds, 1, batch).expand(Folds, pairs, batch)).permute(0, 2, 1);
        var outer = x.select(1, 0).unsqueeze(3).Plus(x.select(1, 1).unsqueeze(2)).view(Folds, batch, pairs);
        var pair = chooser.Pick(weights.Plus(outer), 2);
        using var units = ((long)InputUnits).ToScalar();
        return torch.stack([pair.div(units, RoundingMode.floor), pair.remainder(units)], 1).MoveToOuterDisposeScope();
    }
}
