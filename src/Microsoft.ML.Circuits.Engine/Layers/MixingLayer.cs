using Microsoft.ML.Circuits.Semirings;
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

    internal MixingLayer(LayerSpec spec, Reparameterization reparameterization, Generator generator, Device device)
        : base(nameof(MixingLayer), spec, reparameterization, device)
    {
        if (spec.InputUnits != spec.OutputUnits)
            throw new ArgumentException("A mixing layer keeps the number of units.", nameof(spec));
        var weight = spec.Parameter("weight");
        IsFrozen = weight.Frozen;
        long[] shape = [.. weight.Shape];
        using var realSlots = torch.tensor(spec.Mask.ToArray()).view(Folds, Arity, 1).to(ScalarType.Float32);
        if (IsFrozen)
        {
            frozen = torch.full(shape, 0.5f).mul_(realSlots).to(device);
            register_buffer("weight", frozen, persistent: true);
            return;
        }
        using var u = torch.rand(shape, ScalarType.Float32, generator: generator).mul_(0.98).add_(0.01).mul_(realSlots);
        var initial = u / u.sum(1, keepdim: true);
        if (reparameterization != Reparameterization.Clamp) initial.clamp_min_(Parameterization.ClampMinimum).log_();
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
            w = Parameterization.Weights(Weight!, Spec.Parameter("weight"), Reparameterization);
        if (Mask is not null) w = w * Mask.unsqueeze(2);
        return w.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override Tensor Contract(Tensor x, Semiring semiring)
    {
        CheckInput(x, semiring);
        using var scope = NewDisposeScope();
        // Padded slots must not take part: make them the zero vector (−∞ in log space: they then contribute
        // exp(−∞)·0 = 0, or lose every maximum).
        if (Mask is not null) x = semiring.ZeroAt(x, Mask.logical_not().view(Folds, Arity, 1, 1));
        return semiring.WeightedSum(x, Weights().unsqueeze(2), 1).MoveToOuterDisposeScope();
    }

    /// <summary>Unit o of fold f picks one slot h ∝ w[f,h,o]·exp(x[f,h,b,o]) (padded slots never); that slot's input
    /// unit is o itself.</summary>
    internal override Tensor ChooseInputs(Tensor x, Tensor unit, Semiring semiring, Queries.UnitChooser chooser)
    {
        using var scope = NewDisposeScope();
        long batch = x.shape[2];
        var index = unit.view(Folds, 1, batch).expand(Folds, Arity, batch);
        var values = x.gather(3, index.unsqueeze(3)).squeeze(3);
        if (Mask is not null) values = values.masked_fill(Mask.logical_not().view(Folds, Arity, 1), TensorArithmetic.NegativeInfinity);
        var slot = chooser.Pick(Weights().log().gather(2, index).Plus(values), 1);
        var chosen = torch.arange(Arity, dtype: ScalarType.Int64, device: x.device).view(1, Arity, 1).eq(slot.unsqueeze(1));
        return torch.where(chosen, index, torch.full([1], -1L, ScalarType.Int64, x.device)).MoveToOuterDisposeScope();
    }
}
