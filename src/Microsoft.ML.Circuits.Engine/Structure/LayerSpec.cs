using System.Collections.Immutable;

namespace Microsoft.ML.Circuits.Structure;

/// <summary>
/// A folded inner layer described without any backend: what it computes (<see cref="Kind"/>), its sizes, its
/// parameter tensors, and where its inputs come from (<see cref="Sources"/>, <see cref="Gather"/>, <see cref="Mask"/>,
/// from the <see cref="FoldedLayerPlan"/> it was made from). Parameter counts, the TorchSharp layers and exporters are
/// all built from these specs, so a layer's shape is written down once.
/// </summary>
public sealed class LayerSpec
{
    internal LayerSpec(FoldedLayerPlan plan, LayerSpecKind kind, int? rank, ImmutableArray<ParameterSpec> parameters)
    {
        Plan = plan; Kind = kind; Rank = rank; Parameters = parameters;
    }

    /// <summary>The folded layer of the plan: folds, arity, units, sources, gather index and padding mask.</summary>
    public FoldedLayerPlan Plan { get; }

    /// <summary>What the layer computes.</summary>
    public LayerSpecKind Kind { get; }

    /// <summary>R for uncollapsed CP; null otherwise.</summary>
    public int? Rank { get; }

    /// <summary>The parameter tensors, in the order the layer creates them.</summary>
    public ImmutableArray<ParameterSpec> Parameters { get; }

    /// <summary>Position in <see cref="CircuitPlan.Layers"/>.</summary>
    public int Index => Plan.Index;

    /// <summary>F.</summary>
    public int Folds => Plan.Folds;

    /// <summary>H.</summary>
    public int Arity => Plan.Arity;

    /// <summary>K_in.</summary>
    public int InputUnits => Plan.InputUnits;

    /// <summary>K_out.</summary>
    public int OutputUnits => Plan.OutputUnits;

    /// <summary>Source layers of the input (0 = input regions, i ≥ 1 = inner layer i − 1).</summary>
    public ImmutableArray<int> Sources => Plan.Sources;

    /// <summary>F×H indices into the concatenated sources (and the padding row).</summary>
    public ImmutableArray<int> Gather => Plan.Gather;

    /// <summary>F×H flags, false at padded slots.</summary>
    public ImmutableArray<bool> Mask => Plan.Mask;

    /// <summary>True when some fold has fewer than H inputs.</summary>
    public bool IsPadded => Plan.IsPadded;

    /// <summary>The parameter tensor called <paramref name="name"/>.</summary>
    public ParameterSpec Parameter(string name) =>
        Parameters.FirstOrDefault(p => p.Name == name) ?? throw new ArgumentException($"Layer {Index} ({Kind}) has no parameter '{name}'.", nameof(name));

    /// <inheritdoc />
    public override string ToString() => $"layer {Index}: {Kind} F={Folds} H={Arity} K_in={InputUnits} K_out={OutputUnits}{(Rank is { } r ? $" R={r}" : "")}";
}
