using System.Collections.Immutable;

namespace Microsoft.ML.Circuits.Structure;

/// <summary>
/// One parameter tensor of a layer, backend-neutral: its name in the model's state, shape, role in the parameter
/// count, whether one copy serves every fold, the axes over which the softmax reparameterisation normalises it, and
/// whether it is frozen (a fixed buffer rather than a trained parameter).
/// </summary>
/// <param name="Name">Name inside the layer (the state key is <c>layer{index}.{Name}</c>, or <c>input.{Name}</c>).</param>
/// <param name="Shape">Dimensions, outermost first.</param>
/// <param name="Role">Part of the parameter count it belongs to.</param>
/// <param name="SharedAcrossFolds">True when the tensor has no fold axis and serves every fold (CP-XS, CP-S).</param>
/// <param name="NormalizedAxes">Axes a unit's weights are normalised over under softmax (empty: never normalised).</param>
/// <param name="Frozen">True for fixed weights (frozen mixing layers), which training does not update.</param>
public sealed record ParameterSpec(string Name, ImmutableArray<long> Shape, ParameterRole Role, bool SharedAcrossFolds,
    ImmutableArray<int> NormalizedAxes, bool Frozen = false)
{
    /// <summary>The number of elements: the product of <see cref="Shape"/>.</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}
