namespace Microsoft.ML.Circuits.RegionGraphs;

/// <summary>
/// Random binary trees (RAT-SPN style) over D variables: for each repetition, the root's scope is shuffled and cut in
/// two halves (the first part gets round-half-even(n/2) variables), recursively, <c>depth</c> times; singletons stop.
/// The root gets one partition per repetition, and the input regions of repetition r use input replica r.
/// </summary>
public static class RandomBinaryTree
{
    /// <summary>Builds the graph. The same seed always gives the same graph.</summary>
    /// <param name="variables">Number of variables D (at least 2).</param>
    /// <param name="depth">Number of splits; defaults to ceil(log2 D), which splits down to single variables.</param>
    /// <param name="repetitions">Number of independent trees under the root (at least 1).</param>
    /// <param name="seed">Seed of the shuffles.</param>
    public static RegionGraph Create(int variables, int? depth = null, int repetitions = 1, int seed = 42)
    {
        if (variables < 2)
            throw new ArgumentOutOfRangeException(nameof(variables), variables, "A random binary tree needs at least 2 variables.");
        int splits = depth ?? DefaultDepth(variables);
        if (splits < 1)
            throw new ArgumentOutOfRangeException(nameof(depth), depth, "The random binary tree depth must be at least 1.");
        if (repetitions < 1)
            throw new ArgumentOutOfRangeException(nameof(repetitions), repetitions, "The number of repetitions must be at least 1.");

        var random = new Random(seed);
        var graph = new RegionGraphBuilder(variables);
        int root = graph.AddRegion(Enumerable.Range(0, variables));
        for (int repetition = 0; repetition < repetitions; repetition++)
        {
            var level = new List<int> { root };
            for (int d = 0; d < splits && level.Count > 0; d++)
            {
                var next = new List<int>();
                foreach (int region in level)
                {
                    var scope = graph.ScopeOf(region).ToArray();
                    if (scope.Length == 1) continue;
                    random.Shuffle(scope);
                    int cut = (int)Math.Round(scope.Length / 2.0, MidpointRounding.ToEven);
                    int first = graph.AddRegion(scope[..cut], repetition);
                    int second = graph.AddRegion(scope[cut..], repetition);
                    graph.AddPartition(region, first, second);
                    next.Add(first);
                    next.Add(second);
                }
                level = next;
            }
        }
        return graph.Build();
    }

    /// <summary>ceil(log2 D): the depth at which every leaf is a single variable.</summary>
    public static int DefaultDepth(int variables) => (int)Math.Ceiling(Math.Log2(variables));
}
