using System.Collections.Immutable;

namespace Microsoft.ML.Circuits.RegionGraphs;

/// <summary>Mutable builder used by the region-graph constructions; <see cref="Build"/> freezes and validates.</summary>
public sealed class RegionGraphBuilder
{
    readonly int variableCount;
    readonly List<(ImmutableArray<int> Scope, int Replica)> regions = [];
    readonly List<(int Output, int[] Inputs)> partitions = [];

    /// <summary>Starts an empty graph over <paramref name="variableCount"/> variables.</summary>
    public RegionGraphBuilder(int variableCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(variableCount, 1);
        this.variableCount = variableCount;
    }

    /// <summary>Adds a region and returns its id.</summary>
    public int AddRegion(IEnumerable<int> scope, int replica = 0)
    {
        var sorted = scope.Order().ToImmutableArray();
        if (sorted.IsEmpty) throw new ArgumentException("A region needs a non-empty scope.", nameof(scope));
        if (sorted[0] < 0 || sorted[^1] >= variableCount)
            throw new ArgumentOutOfRangeException(nameof(scope), $"Scope variables must lie in 0..{variableCount - 1}.");
        regions.Add((sorted, replica));
        return regions.Count - 1;
    }

    /// <summary>The scope of region <paramref name="region"/>.</summary>
    public ImmutableArray<int> ScopeOf(int region) => regions[region].Scope;

    /// <summary>Adds a partition of <paramref name="output"/> into <paramref name="inputs"/> and returns its id.</summary>
    public int AddPartition(int output, params int[] inputs)
    {
        partitions.Add((output, inputs.ToArray()));
        return partitions.Count - 1;
    }

    /// <summary>Adds a region over the union of <paramref name="inputs"/> and one partition into them.</summary>
    public int Merge(params int[] inputs)
    {
        int region = AddRegion(inputs.SelectMany(i => regions[i].Scope));
        AddPartition(region, inputs);
        return region;
    }

    /// <summary>Freezes the graph, checking that it is smooth, decomposable and has a single root.</summary>
    public RegionGraph Build()
    {
        var decompositions = new List<int>[regions.Count];
        var consumers = new List<int>[regions.Count];
        for (int i = 0; i < regions.Count; i++) { decompositions[i] = []; consumers[i] = []; }
        for (int p = 0; p < partitions.Count; p++)
        {
            decompositions[partitions[p].Output].Add(p);
            foreach (int input in partitions[p].Inputs) consumers[input].Add(p);
        }
        var regionNodes = regions.Select((r, i) => new Region(i, r.Scope, r.Replica, [.. decompositions[i]], [.. consumers[i]]));
        var partitionNodes = partitions.Select((p, i) => new Partition(i, p.Output, [.. p.Inputs]));
        return new RegionGraph(variableCount, [.. regionNodes], [.. partitionNodes]);
    }
}
