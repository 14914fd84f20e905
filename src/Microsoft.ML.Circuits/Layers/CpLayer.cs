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
    /// <summary>Creates the layer with weights U(0.01, 0.99).</summary>
    public CpLayer(FoldedLayerPlan plan, Reparameterization reparameterization, Generator generator, Device device)
        : base(nameof(CpLayer), plan, reparameterization, device)
    {
        Weight = AddParameter("weight", Parameterization.InitialUniform([Folds, Arity, InputUnits, OutputUnits], reparameterization, generator), device);
    }

    /// <summary>θ of shape (F, H, K_in, K_out).</summary>
    public Parameter Weight { get; }

    /// <summary>The non-negative weights W.</summary>
    public Tensor Weights() => Parameterization.Weights(Weight, Reparameterization, 2);

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        CheckInput(x);
        using var scope = NewDisposeScope();
        long batch = x.shape[2];
        var y = LogSpace.LogMatMul(x.reshape(Folds * Arity, batch, InputUnits), Weights().view(Folds * Arity, InputUnits, OutputUnits));
        return SumSlots(y.view(Folds, Arity, batch, OutputUnits)).MoveToOuterDisposeScope();
    }
}

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

/// <summary>
/// CP-S: CP-XS followed by a per-fold, per-unit scale s ∈ (F, K_out), initialised U(0.9, 1.1):
/// y[f,o] = s[f,o]·y_xs[f,o]. Parameters: H·K_in·K_out + F·K_out (the scales counted separately).
/// </summary>
public sealed class ScaledSharedCpLayer : SharedCpLayer
{
    /// <summary>Creates the layer.</summary>
    public ScaledSharedCpLayer(FoldedLayerPlan plan, Reparameterization reparameterization, Generator generator, Device device)
        : base(nameof(ScaledSharedCpLayer), plan, reparameterization, generator, device)
    {
        var scale = Parameterization.InitialUniform([Folds, OutputUnits], reparameterization == Reparameterization.Clamp ? Reparameterization.Clamp : Reparameterization.Exp,
            generator, 0.9, 1.1);
        Scale = AddParameter("scale", scale, device);
    }

    /// <summary>θ of the scales, shape (F, K_out); the scale is θ (clamp) or e^θ (exp, softmax).</summary>
    public Parameter Scale { get; }

    /// <summary>log s, shape (F, K_out).</summary>
    public Tensor LogScale() => Reparameterization == Reparameterization.Clamp ? Scale.log() : Scale.alias();

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = base.forward(x);
        return y.add_(LogScale().unsqueeze(1)).MoveToOuterDisposeScope();
    }
}

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
