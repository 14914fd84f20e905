using System.Collections.Immutable;

namespace Microsoft.ML.Circuits.RegionGraphs;

/// <summary>
/// A region node: a set of variables (its scope). A region with no partitions is an input region, modelled by the
/// circuit's input layer; a region with several partitions is a mixture over them.
/// </summary>
/// <param name="Id">Index of the region in <see cref="RegionGraph.Regions"/>.</param>
/// <param name="Scope">The variables of the region, sorted ascending.</param>
/// <param name="Replica">The replica (repetition) the region belongs to; input regions of different replicas use
/// separate input parameters. Always 0 except in random binary trees.</param>
/// <param name="Partitions">Ids of the partitions that decompose this region (its inputs).</param>
/// <param name="Consumers">Ids of the partitions that use this region as one of their parts.</param>
public sealed record Region(int Id, ImmutableArray<int> Scope, int Replica, ImmutableArray<int> Partitions, ImmutableArray<int> Consumers)
{
    /// <summary>True when the region has no partitions, so the input layer models it.</summary>
    public bool IsInput => Partitions.IsEmpty;
}
