using Microsoft.ML.Circuits.Semirings;
using Microsoft.ML.Circuits.Structure;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Layers;

/// <summary>
/// Uncollapsed CP of rank R (the target of Tucker compression): z[f,r] = Π_h Σ_i A[f,h,i,r]·x[f,h,i], then
/// y[f,o] = Σ_r B[f,r,o]·z[f,r]. Parameters: F·H·K_in·R + F·R·K_out.
/// </summary>
public sealed class UncollapsedCpLayer : InnerLayer
{
    internal UncollapsedCpLayer(LayerSpec spec, Reparameterization reparameterization, Generator generator, Device device)
        : base(nameof(UncollapsedCpLayer), spec, reparameterization, device)
    {
        Rank = spec.Rank ?? throw new ArgumentException("Uncollapsed CP needs a rank.", nameof(spec));
        InputWeight = AddParameter("input_weight", InitialUniform("input_weight", generator), device);
        OutputWeight = AddParameter("output_weight", InitialUniform("output_weight", generator), device);
    }

    /// <summary>R.</summary>
    public int Rank { get; }

    /// <summary>θ of the input factors A, shape (F, H, K_in, R).</summary>
    public Parameter InputWeight { get; }

    /// <summary>θ of the output matrix B, shape (F, R, K_out).</summary>
    public Parameter OutputWeight { get; }

    /// <inheritdoc />
    public override Tensor Contract(Tensor x, Semiring semiring)
    {
        CheckInput(x, semiring);
        using var scope = NewDisposeScope();
        var a = Parameterization.Weights(InputWeight, Spec.Parameter("input_weight"), Reparameterization);
        var z = RankProducts(x, a, semiring);
        var b = Parameterization.Weights(OutputWeight, Spec.Parameter("output_weight"), Reparameterization);
        return semiring.MatMul(z, b).MoveToOuterDisposeScope();
    }

    /// <summary>z (F, B, R): the product over the slots of each slot's input contracted with A (F, H, K_in, R).</summary>
    Tensor RankProducts(Tensor x, Tensor a, Semiring semiring)
    {
        long batch = x.shape[2];
        return semiring.MatMulProduct(x.reshape(Folds * Arity, batch, x.shape[3]), a.view(Folds * Arity, InputUnits, Rank),
            [Folds, Arity, batch, Rank], 1, PaddedSlots(), null);
    }

    /// <summary>First the rank r ∝ B[f,r,o]·exp(z[f,b,r]) (z recomputed over the pass's semiring), then each slot's
    /// input i ∝ A[f,h,i,r]·exp(x[f,h,b,i]).</summary>
    internal override Tensor ChooseInputs(Tensor x, Tensor unit, Semiring semiring, Queries.UnitChooser chooser)
    {
        using var scope = NewDisposeScope();
        long batch = x.shape[2];
        var a = Parameterization.Weights(InputWeight, Spec.Parameter("input_weight"), Reparameterization);
        var z = RankProducts(x, a, semiring);
        var logB = Parameterization.Weights(OutputWeight, Spec.Parameter("output_weight"), Reparameterization).log();
        var toOutput = logB.gather(2, unit.view(Folds, 1, batch).expand(Folds, Rank, batch)).permute(0, 2, 1);
        var rank = chooser.Pick(toOutput.Plus(z), 2);
        return ChooseEachSlot(x, a.log(), rank, chooser).MoveToOuterDisposeScope();
    }
}
