namespace Microsoft.ML.Circuits.RegionGraphs;

/// <summary>
/// The Poon–Domingos region graph over an H×W image. Cut points are every multiple of <c>delta</c> strictly inside
/// each axis (for 28 and delta 4: 4, 8, …, 24). Starting from the whole image, breadth first, every rectangle is
/// split at every cut point strictly inside it, on both axes, into two rectangles (one binary partition per cut).
/// Rectangles are shared by scope, so the graph is a DAG. Rectangles without an inner cut point are the input
/// regions: for 28×28 and delta 4 the 49 blocks of 4×4 pixels. For 28×28: 784 regions, 3136 partitions, and the
/// root has 12 partitions.
/// </summary>
public static class PoonDomingos
{
    /// <summary>The delta the paper used for every image size.</summary>
    public const int DefaultDelta = 4;

    /// <summary>Builds the graph.</summary>
    /// <param name="height">Image height (rows).</param>
    /// <param name="width">Image width (columns).</param>
    /// <param name="delta">Distance between cut points; at least 1, and smaller than the longer side.</param>
    /// <param name="maxDepth">Maximum split depth; defaults to H + W + 1 (no limit in practice).</param>
    public static RegionGraph Create(int height, int width, int delta = DefaultDelta, int? maxDepth = null)
    {
        ImageShape.Validate(height, width, minimumPixels: 2, "a Poon-Domingos region graph");
        if (delta < 1)
            throw new ArgumentOutOfRangeException(nameof(delta), delta, "The Poon-Domingos delta must be at least 1.");
        if (delta >= Math.Max(height, width))
            throw new ArgumentException(
                $"A {height}×{width} image is too small for a Poon-Domingos region graph with delta {delta}: " +
                $"one side must be longer than delta (at least {delta + 1} pixels), or choose a delta below {Math.Max(height, width)}.",
                nameof(delta));
        int depthLimit = maxDepth ?? height + width + 1;
        if (depthLimit < 1)
            throw new ArgumentOutOfRangeException(nameof(maxDepth), maxDepth, "The maximum split depth must be at least 1.");

        int[] rowCuts = CutPoints(height, delta), colCuts = CutPoints(width, delta);
        var graph = new RegionGraphBuilder(height * width);
        var regions = new Dictionary<Rect, (int Id, int Depth)>();
        var queue = new Queue<Rect>();
        var root = new Rect(0, 0, height, width);
        regions[root] = (graph.AddRegion(root.Scope(width)), 0);
        queue.Enqueue(root);

        while (queue.Count > 0)
        {
            var rect = queue.Dequeue();
            var (id, depth) = regions[rect];
            if (depth >= depthLimit) continue;
            foreach (int cut in rowCuts.Where(c => rect.Top < c && c < rect.Bottom))
                Split(rect with { Bottom = cut }, rect with { Top = cut });
            foreach (int cut in colCuts.Where(c => rect.Left < c && c < rect.Right))
                Split(rect with { Right = cut }, rect with { Left = cut });

            void Split(Rect first, Rect second) => graph.AddPartition(id, Child(first), Child(second));

            int Child(Rect child)
            {
                if (!regions.TryGetValue(child, out var node))
                {
                    node = (graph.AddRegion(child.Scope(width)), depth + 1);
                    regions[child] = node;
                    queue.Enqueue(child);
                }
                return node.Id;
            }
        }
        return graph.Build();
    }

    static int[] CutPoints(int size, int delta) => Enumerable.Range(1, (size - 1) / delta).Select(i => i * delta).ToArray();

    readonly record struct Rect(int Top, int Left, int Bottom, int Right)
    {
        public IEnumerable<int> Scope(int width)
        {
            for (int r = Top; r < Bottom; r++)
                for (int c = Left; c < Right; c++)
                    yield return r * width + c;
        }
    }
}
