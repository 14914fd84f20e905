using System.Collections.Immutable;

namespace Microsoft.ML.Circuits.RegionGraphs;

/// <summary>A partition node: a split of one region's scope into disjoint child regions (a product).</summary>
/// <param name="Id">Index of the partition in <see cref="RegionGraph.Partitions"/>.</param>
/// <param name="Output">Id of the region this partition decomposes.</param>
/// <param name="Inputs">Ids of the child regions, whose scopes are disjoint and cover the output's scope.</param>
public sealed record Partition(int Id, int Output, ImmutableArray<int> Inputs);
