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
    /// <summary>Creates the layer with weights U(0.01, 0.99).</summary>
    public UncollapsedCpLayer(FoldedLayerPlan plan, int rank, Reparameterization reparameterization, Generator generator, Device device)
        : base(nameof(UncollapsedCpLayer), plan, reparameterization, device)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rank, 1);
        Rank = rank;
        InputWeight = AddParameter("input_weight", Parameterization.InitialUniform([Folds, Arity, InputUnits, rank], reparameterization, generator), device);
        OutputWeight = AddParameter("output_weight", Parameterization.InitialUniform([Folds, rank, OutputUnits], reparameterization, generator), device);
    }

    /// <summary>R.</summary>
    public int Rank { get; }

    /// <summary>θ of the input factors A, shape (F, H, K_in, R).</summary>
    public Parameter InputWeight { get; }

    /// <summary>θ of the output matrix B, shape (F, R, K_out).</summary>
    public Parameter OutputWeight { get; }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        CheckInput(x);
        using var scope = NewDisposeScope();
        long batch = x.shape[2];
        var a = Parameterization.Weights(InputWeight, Reparameterization, 2).view(Folds * Arity, InputUnits, Rank);
        var z = SumSlots(LogSpace.LogMatMul(x.reshape(Folds * Arity, batch, InputUnits), a).view(Folds, Arity, batch, Rank));
        var b = Parameterization.Weights(OutputWeight, Reparameterization, 1);
        return LogSpace.LogMatMul(z, b).MoveToOuterDisposeScope();
    }
}
