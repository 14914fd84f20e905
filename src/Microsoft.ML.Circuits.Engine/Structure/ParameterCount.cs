namespace Microsoft.ML.Circuits.Structure;

/// <summary>
/// Parameter counts of a circuit, counted as the paper's <c>count_pc_params</c>: input + inner + mixing, with the
/// per-fold scales of CP-S counted separately (<see cref="Scales"/>). Padded arity slots are counted, as the
/// original stores them. <see cref="Trainable"/> leaves out frozen mixing weights. Computed from the layer specs.
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
    public static ParameterCount Of(CircuitPlan plan, CircuitDescription description) => Of(CircuitSpec.Build(plan, description));

    /// <summary>Counts the parameter tensors of <paramref name="spec"/> by role.</summary>
    public static ParameterCount Of(CircuitSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var all = spec.AllParameters().Select(p => p.Parameter).ToList();
        long Sum(ParameterRole role) => all.Where(p => p.Role == role).Sum(p => p.ElementCount);
        return new ParameterCount(Sum(ParameterRole.Input), Sum(ParameterRole.Inner), Sum(ParameterRole.Mixing), Sum(ParameterRole.Scale),
            all.Where(p => p.Frozen).Sum(p => p.ElementCount));
    }
}
