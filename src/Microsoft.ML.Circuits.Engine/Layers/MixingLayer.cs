using Microsoft.ML.Circuits.Structure;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Layers;

/// <summary>
/// Mixing: for a region with several partitions, y[f,k] = Σ_h w[f,h,k]·x[f,h,k], unit by unit (no mixing across
/// units), w ∈ (F, H, K). Padded slots get weight 0. Frozen layers hold w = 0.5 in a buffer (the paper's default);
/// trainable ones start from U(0.01, 0.99) normalised over the real slots.
/// </summary>
public sealed class MixingLayer : InnerLayer
{
    readonly Tensor? frozen;

    /// <summary>Creates the layer; <paramref name="freeze"/> keeps the weights at 0.5.</summary>
    public MixingLayer(FoldedLayerPlan plan, bool freeze, Reparameterization reparameterization, Generator generator, Device device)
        : base(nameof(MixingLayer), plan, reparameterization, device)
    {
        if (plan.InputUnits != plan.OutputUnits)
            throw new ArgumentException("A mixing layer keeps the number of units.", nameof(plan));
        IsFrozen = freeze;
        using var realSlots = torch.tensor(plan.Mask.ToArray()).view(Folds, Arity, 1).to(ScalarType.Float32);
        if (freeze)
        {
            frozen = torch.full([Folds, Arity, OutputUnits], 0.5f).mul_(realSlots).to(device);
            register_buffer("weight", frozen, persistent: true);
            return;
        }
        using var u = torch.rand([Folds, Arity, OutputUnits], ScalarType.Float32, generator: generator).mul_(0.98).add_(0.01).mul_(realSlots);
        var initial = u / u.sum(1, keepdim: true);
        if (reparameterization != Reparameterization.Clamp) initial.clamp_min_(LogSpace.ClampMinimum).log_();
        Weight = AddParameter("weight", initial, device);
    }

    /// <summary>True when the weights are fixed at 0.5.</summary>
    public bool IsFrozen { get; }

    /// <summary>θ of shape (F, H, K) when trainable; null when frozen.</summary>
    public Parameter? Weight { get; }

    /// <summary>The non-negative weights (F, H, K), zero at padded slots.</summary>
    public Tensor Weights()
    {
        if (frozen is not null) return frozen.alias();
        using var scope = NewDisposeScope();
        Tensor w;
        if (Reparameterization == Reparameterization.Softmax && Mask is not null)
            w = Weight!.masked_fill(Mask.logical_not().unsqueeze(2), float.NegativeInfinity).softmax(1);
        else
            w = Parameterization.Weights(Weight!, Reparameterization, 1);
        if (Mask is not null) w = w * Mask.unsqueeze(2);
        return w.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        CheckInput(x);
        using var scope = NewDisposeScope();
        // Padded slots must not take part in the maximum: make them −∞ (they then contribute exp(−∞)·0 = 0).
        if (Mask is not null) x = x.masked_fill(Mask.logical_not().view(Folds, Arity, 1, 1), float.NegativeInfinity);
        var max = LogSpace.SafeMax(x, 1);
        var linear = ((x - max).exp_() * Weights().unsqueeze(2)).sum(1);
        return linear.log_().add_(max.squeeze(1)).MoveToOuterDisposeScope();
    }
}
