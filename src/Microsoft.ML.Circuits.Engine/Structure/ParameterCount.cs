namespace Microsoft.ML.Circuits.Structure;

/// <summary>
/// Parameter counts of a circuit, counted as the paper's <c>count_pc_params</c>: input + inner + mixing, with the
/// per-fold scales of CP-S counted separately (<see cref="Scales"/>). Padded arity slots are counted, as the
/// original stores them. <see cref="Trainable"/> leaves out frozen mixing weights.
/// </summary>
/// <param name="Input">Categorical logits: D·K_in·P·C·categories.</param>
/// <param name="Inner">Sum-product layer weights.</param>
/// <param name="Mixing">Mixing layer weights (frozen or not).</param>
/// <param name="Scales">CP-S per-fold scales.</param>
/// <param name="FrozenMixing">The part of <paramref name="Mixing"/> that is frozen.</param>
public sealed record ParameterCount(long Input, long Inner, long Mixing, long Scales, long FrozenMixing)
{
    /// <summary>Input + inner + mixing + scales.</summary>
    public long Total => Input + Inner + Mixing + Scales;

    /// <summary>Input + inner + mixing: the paper's count without CP-S scales.</summary>
    public long WithoutScales => Input + Inner + Mixing;

    /// <summary>Parameters the optimiser updates: <see cref="Total"/> minus frozen mixing weights.</summary>
    public long Trainable => Total - FrozenMixing;

    /// <summary>Counts the parameters of <paramref name="plan"/> built with the layers of <paramref name="description"/>.</summary>
    public static ParameterCount Of(CircuitPlan plan, CircuitDescription description)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(description);
        long input = (long)plan.Variables * plan.InputUnits * plan.Replicas * description.Channels * description.Categories;
        long inner = 0, mixing = 0, scales = 0, frozen = 0;
        var mixingLayers = plan.Layers.Where(l => l.Role == FoldedLayerRole.Mixing).ToList();
        foreach (var layer in plan.Layers)
        {
            long f = layer.Folds, h = layer.Arity, ki = layer.InputUnits, ko = layer.OutputUnits;
            if (layer.Role == FoldedLayerRole.Mixing)
            {
                long count = f * h * ko;
                mixing += count;
                if (IsFrozen(description.FreezeMixing, layer == mixingLayers[^1])) frozen += count;
                continue;
            }
            switch (description.Layer)
            {
                case LayerKind.Tucker: inner += f * ki * ki * ko; break;
                case LayerKind.CP: inner += f * h * ki * ko; break;
                case LayerKind.CPXS: inner += h * ki * ko; break;
                case LayerKind.CPS: inner += h * ki * ko; scales += f * ko; break;
                case LayerKind.UncollapsedCP:
                    long r = description.Rank ?? throw new ArgumentException("Uncollapsed CP needs a rank.", nameof(description));
                    inner += f * h * ki * r + f * r * ko;
                    break;
                default: throw new ArgumentOutOfRangeException(nameof(description), description.Layer, "Unknown layer kind.");
            }
        }
        return new ParameterCount(input, inner, mixing, scales, frozen);
    }

    /// <summary>Whether a mixing layer is frozen under <paramref name="freeze"/>.</summary>
    public static bool IsFrozen(MixingFreeze freeze, bool isLastMixingLayer) => freeze switch
    {
        MixingFreeze.All => true,
        MixingFreeze.AllButLast => !isLastMixingLayer,
        _ => false,
    };
}
