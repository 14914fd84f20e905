using Microsoft.ML.Circuits.Structure;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Layers;

/// <summary>
/// A folded inner layer. Input: (F, H, B, K_in) log-values gathered by the circuit (padding slots hold log 1 = 0);
/// output: (F, B, K_out) log-values. Each layer knows its parameters, its forward pass and its projection.
/// </summary>
public abstract class InnerLayer : nn.Module<Tensor, Tensor>
{
    readonly List<Parameter> clamped = [];

    /// <summary>Creates the layer for <paramref name="plan"/>.</summary>
    protected InnerLayer(string name, FoldedLayerPlan plan, Reparameterization reparameterization, Device device) : base(name)
    {
        Plan = plan;
        Reparameterization = reparameterization;
        Folds = plan.Folds;
        Arity = plan.Arity;
        InputUnits = plan.InputUnits;
        OutputUnits = plan.OutputUnits;
        if (plan.IsPadded)
        {
            Mask = torch.tensor(plan.Mask.ToArray(), device: device).view(Folds, Arity);
            register_buffer("mask", Mask, persistent: false);
        }
    }

    /// <summary>Every parameter and buffer is registered explicitly (non-persistent buffers stay out of the state).</summary>
    protected override void RegisterComponents() { }

    /// <summary>The folded layer this module computes.</summary>
    public FoldedLayerPlan Plan { get; }

    /// <summary>How the raw parameters become weights.</summary>
    public Reparameterization Reparameterization { get; }

    /// <summary>F.</summary>
    public int Folds { get; }

    /// <summary>H.</summary>
    public int Arity { get; }

    /// <summary>K_in.</summary>
    public int InputUnits { get; }

    /// <summary>K_out.</summary>
    public int OutputUnits { get; }

    /// <summary>(F, H) booleans, true at real inputs; null when no fold is padded.</summary>
    protected Tensor? Mask { get; }

    /// <summary>Registers a trainable parameter (subject to the clamp projection) and returns it.</summary>
    protected Parameter AddParameter(string name, Tensor initial, Device device, bool clamp = true)
    {
        var parameter = Parameterization.ToParameter(initial, device);
        register_parameter(name, parameter);
        if (clamp) clamped.Add(parameter);
        return parameter;
    }

    /// <summary>Applies the clamp projection to every parameter of the layer (no-op for exp and softmax).</summary>
    public virtual void ProjectParameters()
    {
        foreach (var p in clamped) Parameterization.Project(p, Reparameterization);
    }

    /// <summary>Sets padded slots of per-slot results <paramref name="y"/> (F, H, B, K) to log 1 and sums over the slots.</summary>
    protected Tensor SumSlots(Tensor y, int slotDim = 1)
    {
        if (Mask is null) return y.sum(slotDim);
        using var missing = Mask.logical_not();
        using var shaped = slotDim == 1 ? missing.view(Folds, Arity, 1, 1) : missing.t().reshape(Arity, Folds, 1, 1);
        using var masked = y.masked_fill(shaped, 0.0);
        return masked.sum(slotDim);
    }

    /// <summary>Checks the shape of the gathered input.</summary>
    protected void CheckInput(Tensor x)
    {
        if (x.ndim != 4 || x.shape[0] != Folds || x.shape[1] != Arity || x.shape[3] != InputUnits)
            throw new ArgumentException($"Layer {Plan.Index} expects input (F={Folds}, H={Arity}, B, K={InputUnits}), got ({string.Join(", ", x.shape)}).", nameof(x));
    }
}
