using System.Collections.Immutable;

namespace Microsoft.ML.Circuits.RegionGraphs;

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

    /// <summary>
    /// A SHA-256 (hex) of the graph's structure: every region's scope and replica and every partition's output and
    /// parts, in id order. Two graphs with the same fingerprint fold into the same plan.
    /// </summary>
    public string Fingerprint => fingerprint ??= ComputeFingerprint();

    string? fingerprint;

    string ComputeFingerprint()
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        void Add(string text) => hash.AppendData(System.Text.Encoding.UTF8.GetBytes(text));
        Add($"D{VariableCount};");
        foreach (var r in Regions) Add($"R{r.Id}:{r.Replica}:{string.Join(',', r.Scope)};");
        foreach (var p in Partitions) Add($"P{p.Id}:{p.Output}:{string.Join(',', p.Inputs)};");
        return Convert.ToHexString(hash.GetHashAndReset());
    }

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
