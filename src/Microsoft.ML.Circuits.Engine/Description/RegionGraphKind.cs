using Microsoft.ML.Circuits.RegionGraphs;

namespace Microsoft.ML.Circuits;

/// <summary>The region graph a circuit is built on.</summary>
public enum RegionGraphKind
{
    /// <summary>QT-4: a quad tree whose 2×2 blocks are 4-ary partitions (CLI name <c>QT</c>).</summary>
    QuadTree,
    /// <summary>QT-2: a quad tree whose 2×2 blocks are binary trees (CLI name <c>QT2</c>).</summary>
    QuadTree2,
    /// <summary>QG: a quad graph, two partitionings per 2×2 block (CLI name <c>QG</c>).</summary>
    QuadGraph,
    /// <summary>PD: Poon–Domingos with axis-aligned cuts every delta pixels (CLI name <c>PD</c>).</summary>
    PoonDomingos,
    /// <summary>BT: random binary trees with repetitions (CLI name <c>BT</c>).</summary>
    RandomBinaryTree,
}
