using System.Collections.Immutable;
using Microsoft.ML.Circuits.RegionGraphs;

namespace Microsoft.ML.Circuits.Structure;

/// <summary>
/// One folded layer of a <see cref="CircuitPlan"/>: <see cref="Folds"/> nodes computed together. Its input is
/// gathered with <see cref="Gather"/> (F×H, row-major) from the concatenation of the outputs of
/// <see cref="Sources"/> (source 0 is the input regions, source i ≥ 1 is <c>Layers[i − 1]</c>) followed, when
/// <see cref="IsPadded"/>, by one padding row; <see cref="Mask"/> is false at padded slots.
/// </summary>
public sealed class FoldedLayerPlan
{
    internal FoldedLayerPlan(int index, FoldedLayerRole role, int folds, int arity, int inputUnits, int outputUnits,
        ImmutableArray<int> sources, ImmutableArray<int> sourceFolds, ImmutableArray<int> gather, ImmutableArray<bool> mask,
        ImmutableArray<int> foldArity, ImmutableArray<int> nodes)
    {
        Index = index; Role = role; Folds = folds; Arity = arity; InputUnits = inputUnits; OutputUnits = outputUnits;
        Sources = sources; SourceFolds = sourceFolds; Gather = gather; Mask = mask; FoldArity = foldArity; Nodes = nodes;
    }

    /// <summary>Position of the layer in <see cref="CircuitPlan.Layers"/>.</summary>
    public int Index { get; }

    /// <summary>Sum-product or mixing.</summary>
    public FoldedLayerRole Role { get; }

    /// <summary>F: number of folds (partitions, or mixed regions).</summary>
    public int Folds { get; }

    /// <summary>H: the largest number of inputs of a fold; folds with fewer are padded.</summary>
    public int Arity { get; }

    /// <summary>Units of each input vector (K_in for input regions, K otherwise).</summary>
    public int InputUnits { get; }

    /// <summary>Units of each output vector (K, or 1 in the last region-graph layer).</summary>
    public int OutputUnits { get; }

    /// <summary>The layers whose outputs are concatenated, in order, to form this layer's input (0 = input regions).</summary>
    public ImmutableArray<int> Sources { get; }

    /// <summary>Number of folds each source contributes to the concatenation.</summary>
    public ImmutableArray<int> SourceFolds { get; }

    /// <summary>F×H indices into the concatenation (row-major); <see cref="PaddingIndex"/> marks padding.</summary>
    public ImmutableArray<int> Gather { get; }

    /// <summary>F×H flags: true where a slot holds a real input.</summary>
    public ImmutableArray<bool> Mask { get; }

    /// <summary>The number of real inputs of each fold.</summary>
    public ImmutableArray<int> FoldArity { get; }

    /// <summary>Partition ids (sum-product) or region ids (mixing), one per fold, in fold order.</summary>
    public ImmutableArray<int> Nodes { get; }

    /// <summary>True when some fold has fewer than <see cref="Arity"/> inputs.</summary>
    public bool IsPadded => FoldArity.Any(a => a < Arity);

    /// <summary>Index of the padding row: the total number of concatenated source folds.</summary>
    public int PaddingIndex => SourceFolds.Sum();
}
