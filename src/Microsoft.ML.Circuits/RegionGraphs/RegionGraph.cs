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

/// <summary>A partition node: a split of one region's scope into disjoint child regions (a product).</summary>
/// <param name="Id">Index of the partition in <see cref="RegionGraph.Partitions"/>.</param>
/// <param name="Output">Id of the region this partition decomposes.</param>
/// <param name="Inputs">Ids of the child regions, whose scopes are disjoint and cover the output's scope.</param>
public sealed record Partition(int Id, int Output, ImmutableArray<int> Inputs);

/// <summary>
/// An immutable region graph: a bipartite DAG of regions and partitions with a single root region whose scope is
/// every variable. Construction checks smoothness (each partition covers exactly its region's scope) and
/// decomposability (the parts of a partition are disjoint), so every graph that exists is valid.
/// </summary>
public sealed class RegionGraph
{
    internal RegionGraph(int variableCount, ImmutableArray<Region> regions, ImmutableArray<Partition> partitions)
    {
        VariableCount = variableCount;
        Regions = regions;
        Partitions = partitions;
        Root = Validate();
        Replicas = regions.Where(r => r.IsInput).Select(r => r.Replica).DefaultIfEmpty(0).Max() + 1;
    }

    /// <summary>Number of variables (pixels) the graph is defined over.</summary>
    public int VariableCount { get; }

    /// <summary>All regions, indexed by id.</summary>
    public ImmutableArray<Region> Regions { get; }

    /// <summary>All partitions, indexed by id.</summary>
    public ImmutableArray<Partition> Partitions { get; }

    /// <summary>The root region, whose scope is every variable.</summary>
    public Region Root { get; }

    /// <summary>Number of input replicas (1 except for random binary trees with several repetitions).</summary>
    public int Replicas { get; }

    /// <summary>The input regions (no partitions).</summary>
    public IEnumerable<Region> InputRegions => Regions.Where(r => r.IsInput);

    /// <summary>The inner regions (one or more partitions).</summary>
    public IEnumerable<Region> InnerRegions => Regions.Where(r => !r.IsInput);

    /// <summary>True when every region with the same scope decomposes in the same way (a tree-like graph).</summary>
    public bool IsStructuredDecomposable
    {
        get
        {
            var seen = new Dictionary<string, string>();
            foreach (var region in InnerRegions)
            {
                foreach (int p in region.Partitions)
                {
                    string key = string.Join(',', region.Scope);
                    string split = string.Join('|', Partitions[p].Inputs.Select(i => string.Join(',', Regions[i].Scope)).Order());
                    if (seen.TryGetValue(key, out var other) && other != split) return false;
                    seen[key] = split;
                }
            }
            return true;
        }
    }

    Region Validate()
    {
        if (VariableCount < 1)
            throw new ArgumentException("A region graph needs at least one variable.");
        foreach (var partition in Partitions)
        {
            var output = Regions[partition.Output];
            if (partition.Inputs.Length < 2)
                throw new InvalidOperationException($"Partition {partition.Id} has fewer than two parts.");
            var union = new HashSet<int>();
            foreach (int input in partition.Inputs)
                foreach (int v in Regions[input].Scope)
                    if (!union.Add(v))
                        throw new InvalidOperationException($"Partition {partition.Id} is not decomposable: variable {v} is in two parts.");
            if (union.Count != output.Scope.Length || !output.Scope.All(union.Contains))
                throw new InvalidOperationException($"Partition {partition.Id} is not smooth: its parts do not cover region {output.Id}'s scope.");
        }
        var roots = Regions.Where(r => r.Consumers.IsEmpty).ToList();
        if (roots.Count != 1)
            throw new InvalidOperationException($"A region graph needs exactly one root region, found {roots.Count}.");
        var root = roots[0];
        if (root.Scope.Length != VariableCount || root.Scope[0] != 0 || root.Scope[^1] != VariableCount - 1)
            throw new InvalidOperationException("The root region must cover every variable.");
        return root;
    }

    /// <summary>Compares two scopes lexicographically (the deterministic order used for folding).</summary>
    public static int CompareScopes(ImmutableArray<int> a, ImmutableArray<int> b)
    {
        int n = Math.Min(a.Length, b.Length);
        for (int i = 0; i < n; i++)
        {
            int c = a[i].CompareTo(b[i]);
            if (c != 0) return c;
        }
        return a.Length.CompareTo(b.Length);
    }
}

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
