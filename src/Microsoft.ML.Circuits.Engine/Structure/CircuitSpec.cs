using System.Collections.Immutable;

namespace Microsoft.ML.Circuits.Structure;

/// <summary>
/// Every layer of a circuit as a backend-neutral spec: the input layer and the folded inner layers in plan order.
/// Built from a plan and the description's layer choices by <see cref="Build"/>; everything that needs a layer's
/// shape (the TorchSharp layers, <see cref="ParameterCount"/>, exporters) reads it from here.
/// </summary>
public sealed class CircuitSpec
{
    CircuitSpec(CircuitPlan plan, InputLayerSpec input, ImmutableArray<LayerSpec> layers)
    {
        Plan = plan; Input = input; Layers = layers;
    }

    /// <summary>The plan the specs describe.</summary>
    public CircuitPlan Plan { get; }

    /// <summary>The categorical input layer.</summary>
    public InputLayerSpec Input { get; }

    /// <summary>The folded inner layers, in plan order.</summary>
    public ImmutableArray<LayerSpec> Layers { get; }

    /// <summary>Every parameter tensor of the circuit with its state key (<c>input.logits</c>, <c>layer{i}.{name}</c>).</summary>
    public IEnumerable<(string Key, ParameterSpec Parameter)> AllParameters() =>
        Layers.SelectMany(l => l.Parameters.Select(p => ($"layer{l.Index}.{p.Name}", p))).Prepend(("input." + Input.Logits.Name, Input.Logits));

    /// <summary>The specs of <paramref name="plan"/> built with the layer kind, rank, channels, categories and mixing
    /// choices of <paramref name="description"/> (which must be the description the plan was built from).</summary>
    /// <exception cref="ArgumentException">The plan was built for another description.</exception>
    public static CircuitSpec Build(CircuitPlan plan, CircuitDescription description)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(description);
        description.Validate();
        if (plan.Variables != description.Variables || plan.Units != description.Units || plan.InputUnits != description.EffectiveInputUnits)
            throw new ArgumentException(
                $"The plan (D={plan.Variables}, K={plan.Units}, K_in={plan.InputUnits}) was not built for {description}.", nameof(plan));

        var input = new InputLayerSpec(plan.Variables, description.Channels, description.Categories, plan.Replicas, plan.InputUnits,
            new ParameterSpec("logits", [plan.Variables, description.Channels, description.Categories, plan.Replicas, plan.InputUnits],
                ParameterRole.Input, false, [2]),
            plan.InputRows);
        var lastMixing = plan.Layers.LastOrDefault(l => l.Role == FoldedLayerRole.Mixing);
        var layers = plan.Layers.Select(l => l.Role == FoldedLayerRole.Mixing
            ? Mixing(l, IsFrozen(description.FreezeMixing, l == lastMixing))
            : SumProduct(l, description.Layer, description.Rank)).ToImmutableArray();
        return new CircuitSpec(plan, input, layers);
    }

    /// <summary>Whether a mixing layer is frozen under <paramref name="freeze"/>.</summary>
    static bool IsFrozen(MixingFreeze freeze, bool isLastMixingLayer) => freeze switch
    {
        MixingFreeze.All => true,
        MixingFreeze.AllButLast => !isLastMixingLayer,
        _ => false,
    };

    static LayerSpec Mixing(FoldedLayerPlan l, bool frozen) =>
        new(l, LayerSpecKind.Mixing, null, [new ParameterSpec("weight", [l.Folds, l.Arity, l.OutputUnits], ParameterRole.Mixing, false, [1], frozen)]);

    static LayerSpec SumProduct(FoldedLayerPlan l, LayerKind kind, int? rank)
    {
        long f = l.Folds, h = l.Arity, ki = l.InputUnits, ko = l.OutputUnits;
        return kind switch
        {
            LayerKind.Tucker => new(l, LayerSpecKind.Tucker, null, [new("weight", [f, ki, ki, ko], ParameterRole.Inner, false, [1, 2])]),
            LayerKind.CP => new(l, LayerSpecKind.CP, null, [new("weight", [f, h, ki, ko], ParameterRole.Inner, false, [2])]),
            LayerKind.CPXS => new(l, LayerSpecKind.CPXS, null, [new("weight", [h, ki, ko], ParameterRole.Inner, true, [1])]),
            LayerKind.CPS => new(l, LayerSpecKind.CPS, null,
                [new("weight", [h, ki, ko], ParameterRole.Inner, true, [1]), new("scale", [f, ko], ParameterRole.Scale, false, [])]),
            LayerKind.UncollapsedCP => new(l, LayerSpecKind.UncollapsedCP, rank ?? throw new ArgumentException("Uncollapsed CP needs a rank.", nameof(rank)),
                [new("input_weight", [f, h, ki, rank.Value], ParameterRole.Inner, false, [2]), new("output_weight", [f, rank.Value, ko], ParameterRole.Inner, false, [1])]),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown layer kind."),
        };
    }
}
